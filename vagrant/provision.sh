#!/bin/bash
# Provisioning of the lab VM (run by Vagrant as root inside the VM, after the harness source was
# uploaded to /tmp/recon-harness-src). Makes the VM a detection lab:
#   * root accepts Vagrant's key (the harness logs in as root: nmap -sn needs raw sockets, and the
#     SSH login gives every command an audit session id through pam_loginuid);
#   * the simulated internet of the embedded lab, inside the VM (harness.lab.vm_internet): lab DNS,
#     HTTPS services with the lab CA, Squid (transparent TLS bumping + explicit basic-auth port),
#     ulogd2 NFLOG, auditd with the harness's keyed rules;
#   * Sysmon for Linux, with the embedded lab's configuration: from the box when vagrant/build-box.sh
#     baked in the packages the host built from upstream source (the offline package cache), else
#     from Microsoft's repository when RECON_HARNESS_ONLINE=1 and the VM reaches it; otherwise its
#     absence is recorded with the reason (never pretended). theHarvester 4.6.0 is in the box when
#     the host's offline package cache had it.
set -euo pipefail
SRC=/opt/recon-harness/src
STATE=/var/lib/recon-harness
ONLINE="${RECON_HARNESS_ONLINE:-0}"
log() { printf '[provision] %s\n' "$*"; }

install -d -m 755 "$SRC" "$STATE"
rm -rf "$SRC/harness" "$SRC/vagrant"
if [ -f /tmp/recon-harness-src.tar.gz ]; then
  tar -xzf /tmp/recon-harness-src.tar.gz -C "$SRC" --no-same-owner
  rm -f /tmp/recon-harness-src.tar.gz
else  # uploaded as a directory (another Vagrantfile)
  mv /tmp/recon-harness-src/* "$SRC/"
  rm -rf /tmp/recon-harness-src
fi
install -m 644 "$SRC/harness/lab/sysmon-config.xml" /opt/recon-harness/sysmon-config.xml
find "$SRC" -name __pycache__ -prune -exec rm -rf {} +

install -d -m 700 /root/.ssh
install -m 600 /home/vagrant/.ssh/authorized_keys /root/.ssh/authorized_keys

online_ok() {
  [ "$ONLINE" = 1 ] || return 1
  curl -sS -m 10 -o /dev/null https://packages.microsoft.com/ 2>/dev/null
}

# Sysmon logs to syslog (ident sysmon): rsyslog (in the box) writes it to a file the harness reads
# over SSH. The rule goes in before Sysmon starts, so its first events land there too.
sysmon_to_file() {
  if command -v rsyslogd >/dev/null || apt-get install -y -q rsyslog; then
    echo ':programname, isequal, "sysmon" /var/log/sysmon.log' > /etc/rsyslog.d/30-sysmon.conf
    systemctl restart rsyslog
  fi
}
if dpkg-query -W -f '${Status}' sysmonforlinux 2>/dev/null | grep -q "install ok installed"; then
  log "Sysmon for Linux from the box (built from upstream source on the host)"
  sysmon_to_file
  if out="$(sysmon -accepteula -i /opt/recon-harness/sysmon-config.xml 2>&1)"; then
    echo "installed: sysmonforlinux $(dpkg-query -W -f '${Version}' sysmonforlinux) (built from upstream source, baked into the box)" > "$STATE/sysmon-status"
  else
    printf 'unavailable: sysmon -i failed in the VM: %s\n' "$(printf '%s' "$out" | tail -3 | tr '\n' ' ')" > "$STATE/sysmon-status"
  fi
elif [ "$ONLINE" != 1 ]; then
  echo "unavailable: Sysmon for Linux is not in the box (the host's offline package cache lacked its packages when vagrant/build-box.sh ran: packaging/sysmon/build-debs.sh builds them) and this lab VM is offline (RECON_HARNESS_ONLINE is not 1)" > "$STATE/sysmon-status"
elif ! online_ok; then
  echo "unavailable: RECON_HARNESS_ONLINE=1 but the VM cannot reach https://packages.microsoft.com (no internet on its network)" > "$STATE/sysmon-status"
else
  log "installing Sysmon for Linux from packages.microsoft.com"
  if curl -sSfL -o /tmp/ms.deb https://packages.microsoft.com/config/debian/12/packages-microsoft-prod.deb &&
     dpkg -i /tmp/ms.deb && apt-get update -q && apt-get install -y -q sysmonforlinux; then
    sysmon_to_file
    sysmon -accepteula -i /opt/recon-harness/sysmon-config.xml
    echo "installed: sysmonforlinux $(dpkg-query -W -f '${Version}' sysmonforlinux)" > "$STATE/sysmon-status"
  else
    echo "unavailable: installing sysmonforlinux from packages.microsoft.com failed (see the provisioning output)" > "$STATE/sysmon-status"
  fi
fi
log "sysmon: $(cat "$STATE/sysmon-status")"

# theHarvester 4.6.0: installed offline into its cached venv when the box was built (from the host's
# offline package cache); the simulated internet's lab CA is added to that venv's certifi bundle by
# harness.lab.vm_internet. Without it the atomic reports PREREQ_MISSING with the reason.
if [ -x /var/cache/recon-harness/theHarvester-4.6.0/bin/theHarvester ]; then
  log "theHarvester: /var/cache/recon-harness/theHarvester-4.6.0"
else
  log "theHarvester: not in the box (the host's package cache lacked it): the atomic reports PREREQ_MISSING"
fi

# The simulated internet and the sensors (again from scratch on re-provisioning).
if [ "$ONLINE" = 1 ]; then
  log "online mode: the simulated internet is NOT started; atomics use the real services"
else
  PYTHONPATH="$SRC" python3 -m harness.lab.vm_internet up
fi
log "done"
