"""Configuration of the lab's sensors in the simulated internet: Squid and ulogd2 (NFLOG).

Squid intercepts the lab host's HTTP and HTTPS at the simulated-internet gateway and bumps TLS
with the lab CA, so the client still resolves the service's name and connects to its address
itself (the DNS and connection signals stay as in the real world) while the proxy logs the host,
the path, the method, the user agent and the status. A second, explicit port requires basic
authentication, which adds the user name (cs-username) to the log.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

from harness.collection import HARNESS_LOGFORMAT
from harness.errors import LabError
from harness.lab.config import LabConfig

SQUID_HTTP_INTERCEPT = 3180
SQUID_HTTPS_INTERCEPT = 3143
ULOGD_PLUGIN_DIR = Path("/usr/lib/x86_64-linux-gnu/ulogd")
PROXY_USER = "recon-lab"


def find_ulogd_plugins() -> Path:
    for d in (ULOGD_PLUGIN_DIR, *Path("/usr/lib").glob("*/ulogd"), Path("/usr/lib/ulogd")):
        if (d / "ulogd_output_JSON.so").exists():
            return d
    raise LabError("ulogd2's JSON output plugin is missing (Debian: apt-get install ulogd2 ulogd2-json)")


def squid_conf(cfg: LabConfig, directory: Path, access_log: Path) -> str:
    gw, d = cfg.inet_gateway_ip, directory
    port = cfg.telemetry.proxy_port
    bump = (
        f"ssl-bump tls-cert={d}/ca.crt tls-key={d}/ca.key generate-host-certificates=on dynamic_cert_mem_cache_size=4MB"
    )
    return f"""# recon-atomics-harness lab proxy
http_port {gw}:{SQUID_HTTP_INTERCEPT} intercept
https_port {gw}:{SQUID_HTTPS_INTERCEPT} intercept {bump}
http_port {cfg.telemetry.proxy_ip}:{port} {bump} name=explicit
sslcrtd_program /usr/lib/squid/security_file_certgen -s {d}/ssl_db -M 4MB
sslcrtd_children 2 startup=1 idle=1
acl step1 at_step SslBump1
ssl_bump peek step1
ssl_bump bump all
tls_outgoing_options cafile={d}/ca.crt
dns_nameservers {cfg.dns_server}
auth_param basic program /usr/lib/squid/basic_ncsa_auth {d}/passwd
auth_param basic realm recon-lab
acl explicit_port myportname explicit
acl authed proxy_auth REQUIRED
http_access deny explicit_port !authed
http_access allow all
cache deny all
pid_filename {d}/squid.pid
cache_log {d}/cache.log
logformat harness {HARNESS_LOGFORMAT}
access_log stdio:{access_log} harness
buffered_logs off
cache_effective_user proxy
coredump_dir {d}
pinger_enable off
shutdown_lifetime 1 seconds
forwarded_for on
via off
"""


def squid_intercept_nft(cfg: LabConfig, uplink_if: str, table: str) -> str:
    # Only the web services are intercepted: a redirect for every address would make Squid answer
    # TCP probes to addresses that do not exist (nmap -sn would then see the whole range up).
    services = ", ".join(sorted({str(s.ip) for s in cfg.services}))
    return f"""
table ip {table} {{
  chain prerouting {{
    type nat hook prerouting priority dstnat; policy accept;
    iifname "{uplink_if}" ip daddr {{ {services} }} tcp dport 443 redirect to :{SQUID_HTTPS_INTERCEPT}
    iifname "{uplink_if}" ip daddr {{ {services} }} tcp dport 80 redirect to :{SQUID_HTTP_INTERCEPT}
  }}
}}
"""


def firewall_nft(cfg: LabConfig, uplink_if: str, table: str) -> str:
    # After conntrack (-200) so `ct state new` works, before NAT (-100) so the original
    # destination is logged. Probes to addresses that do not exist are seen too.
    group = cfg.telemetry.nflog_group
    return f"""
table inet {table} {{
  chain prerouting {{
    type filter hook prerouting priority -150; policy accept;
    iifname "{uplink_if}" ct state new log group {group} prefix "recon-lab new"
  }}
}}
"""


def ulogd_conf(cfg: LabConfig, plugins: Path, json_log: Path, log_file: Path) -> str:
    return f"""# recon-atomics-harness lab firewall log
[global]
logfile="{log_file}"
loglevel=5
plugin="{plugins}/ulogd_inppkt_NFLOG.so"
plugin="{plugins}/ulogd_raw2packet_BASE.so"
plugin="{plugins}/ulogd_filter_IFINDEX.so"
plugin="{plugins}/ulogd_filter_IP2STR.so"
plugin="{plugins}/ulogd_output_JSON.so"
stack=log1:NFLOG,base1:BASE,ifi1:IFINDEX,ip2str1:IP2STR,json1:JSON

[log1]
group={cfg.telemetry.nflog_group}

[json1]
sync=1
file="{json_log}"
"""


def md5_crypt(password: str) -> str:
    """An MD5-crypt hash Squid's basic_ncsa_auth accepts (via openssl, no deprecated module)."""
    proc = subprocess.run(["openssl", "passwd", "-1", "-stdin"], input=password, capture_output=True, text=True,
                          timeout=10)
    if proc.returncode != 0:
        raise LabError(f"openssl passwd failed: {proc.stderr.strip()}")
    return proc.stdout.strip()
