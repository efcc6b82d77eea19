"""Source records -> normalised activities (process created, connection, file, DNS, proxy,
firewall): the source-specific interpretation both views share.

This is where auditd's syscalls, Sysmon's event IDs, the resolver log, the proxy/simulated-
internet logs and NFLOG packets are understood; :mod:`harness.views.sigma` and
:mod:`harness.views.defender` only rename the normalised fields. See docs/ARCHITECTURE.md
("Sigma view", "Defender view") for every mapping and the decisions behind them.
"""

from __future__ import annotations

import posixpath
from collections import OrderedDict
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

from harness.telemetry.parsers.auditd import X86_64_SYSCALLS, execve_argv
from harness.telemetry.parsers.base import Record
from harness.views.context import DnsIndex, ProcessInfo, ProcessTable, ViewContext

_UNSET = "4294967295"
_EXEC = frozenset({"execve", "execveat"})
_NET_SYSCALLS = frozenset({"connect", "sendto", "sendmsg"})
_IP_PROTO = {"1": "icmp", "6": "tcp", "17": "udp", "58": "ipv6-icmp", "132": "sctp"}


@dataclass(frozen=True, slots=True)
class Activity:
    """One normalised activity.

    ``kind``: process_creation, network_connection, file_event, file_delete, dns, proxy or
    firewall. ``process`` is the acting process (the created one for process_creation),
    ``parent`` its parent. ``data`` holds the kind's normalised fields (see module doc of
    :mod:`harness.views.sigma`).
    """

    kind: str
    record: Record
    data: dict[str, Any]
    process: ProcessInfo | None = None
    parent: ProcessInfo | None = None


def _int(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str):
        v = value.strip()
        try:
            return int(v, 0) if v.lower().startswith("0x") else int(v)
        except ValueError:
            return None
    return None


def _dash(value: Any) -> Any:
    return None if value in ("-", "", None) else value


def _session(value: Any) -> str | None:
    """An audit/Sysmon session id, ``None`` when unset (``4294967295``, ``-``)."""
    text = str(value) if value is not None else ""
    return None if text in ("", "-", _UNSET) else text


def _uid_name(uid: str | None) -> str | None:
    if uid is None or uid == _UNSET:
        return None
    return "root" if uid == "0" else uid


def _infer_protocol(syscall: str, port: int | None) -> str:
    # auditd carries no socket type: infer. Port 0 on sendto is a raw-socket probe (ICMP:
    # nmap -sn echo/timestamp); 53 is DNS (UDP); other connects are TCP.
    if syscall != "connect" and port == 0:
        return "icmp"
    if port == 53:
        return "udp"
    return "tcp"


def connect_outcome(syscall: str, success: str | None, exit_code: str | None) -> str:
    """Defender ActionType from the syscall's real outcome.

    connect: ``success=yes`` -> ConnectionSuccess; ``exit=-115`` (EINPROGRESS, non-blocking
    socket) -> ConnectionAttempt; anything else -> ConnectionFailed. sendto/sendmsg of a
    datagram or raw probe: ``success=yes`` -> ConnectionRequest, else ConnectionFailed.
    """
    if syscall == "connect":
        if success == "yes":
            return "ConnectionSuccess"
        if exit_code == "-115":
            return "ConnectionAttempt"
        return "ConnectionFailed"
    return "ConnectionRequest" if success == "yes" else "ConnectionFailed"


@dataclass
class ActivityExtractor:
    """Stateful extractor: keeps the process table while records stream through.

    ``dns`` must already hold the resolver answers of the detonation (see
    :meth:`DnsIndex.feed`), so connections can be named when they are met.
    """

    ctx: ViewContext = field(default_factory=ViewContext)
    dns: DnsIndex = field(default_factory=DnsIndex)
    processes: ProcessTable = field(default_factory=ProcessTable)
    # dnsmasq answers per query serial, filled by prepare(); bounded by the detonation.
    _dns_answers: dict[tuple[str, Any], list[tuple[str, str]]] = field(default_factory=dict)
    # (dev, inode) -> absolute path of files/directories seen in PATH records (LRU-bounded).
    _inodes: OrderedDict[tuple[str, str], str] = field(default_factory=OrderedDict)

    def c_state(self) -> tuple[OrderedDict[tuple[str, str], str], Callable[..., str | None]]:
        """The C contract (harness.views._sigma_fast): the inode table it reads and updates in place,
        and the resolver of relative PATH names it hands back to Python."""
        return self._inodes, self._resolve_path

    def prepare(self, records: Iterable[Record]) -> None:
        """First pass over a detonation's records: DNS answers and dnsmasq query answers."""
        recs = list(records) if not isinstance(records, list) else records
        self.dns.feed(recs)
        for rec in recs:
            if rec.source == "dnsmasq" and rec.fields.get("action") in ("reply", "config", "cached", "hosts"):
                self.note_dns_answer(rec)

    def note_dns_answer(self, rec: Record) -> None:
        f = rec.fields
        key = (rec.file, f.get("serial") if f.get("serial") is not None else f.get("name"))
        self._dns_answers.setdefault(key, []).append((str(f.get("name", "")), str(f.get("answer", ""))))

    # -- dispatch ---------------------------------------------------------------------------
    def extract(self, rec: Record) -> list[Activity]:
        """The activities one record stands for (may be none)."""
        src = rec.source
        if src == "auditd":
            return self._auditd(rec)
        if src in ("sysmon", "evtx"):
            return self._sysmon(rec)
        if src == "dnsmasq":
            return self._dnsmasq(rec)
        if src in ("inet", "squid"):
            return self._proxy(rec)
        if src == "nflog":
            return self._firewall(rec)
        return []

    def extract_all(self, records: Iterable[Record]) -> Iterator[Activity]:
        for rec in records:
            yield from self.extract(rec)

    # -- auditd -----------------------------------------------------------------------------
    def _auditd(self, rec: Record) -> list[Activity]:
        # Hot path (every audit event of a run, and the 1 GB benchmark): plain loops, locals.
        records: list[dict[str, Any]] = rec.fields.get("records") or []
        sc = None
        execve = cwd = sockaddr = proctitle = None
        paths: list[dict[str, Any]] = []
        for r in records:
            t = r.get("type")
            if t == "SYSCALL":
                sc = r
            elif t == "PROCTITLE":
                proctitle = r.get("proctitle")
            elif t == "SOCKADDR":
                sockaddr = r
            elif t == "PATH":
                paths.append(r)
            elif t == "CWD":
                cwd = r.get("cwd")
            elif t == "EXECVE":
                execve = r
        if sc is None:
            return []
        get = sc.get
        name = get("SYSCALL") or X86_64_SYSCALLS.get(get("syscall", ""), get("syscall", ""))
        pid_v, ppid_v = get("pid"), get("ppid")
        pid = int(pid_v) if pid_v.__class__ is str and pid_v.isdecimal() else _int(pid_v)
        ppid = int(ppid_v) if ppid_v.__class__ is str and ppid_v.isdecimal() else _int(ppid_v)
        exe_v = get("exe")
        exe = None if exe_v in (None, "-", "", "(null)") else exe_v
        user = get("UID") or _uid_name(get("uid"))
        ses = get("ses")
        if ses == _UNSET:
            ses = None
        auid = get("auid")
        logon_id = None if auid in (None, _UNSET) else auid
        processes = self.processes
        if name in _EXEC and get("success") == "yes" and execve is not None:
            argv = execve_argv(execve)
            info = ProcessInfo(pid, ppid, exe, " ".join(argv), user, cwd, rec.time, ses, logon_id=logon_id)
            parent = processes.get(ppid)
            processes.put(info)
            return [Activity("process_creation", rec, {"argv": argv, "comm": get("comm")}, info, parent)]
        proc = processes.get(pid)
        if proc is None or (exe is not None and proc.image != exe):
            # A process first seen doing something else: name it from SYSCALL and PROCTITLE.
            proc = ProcessInfo(pid, ppid, exe, proctitle, user, cwd, rec.time, ses, logon_id=logon_id)
            processes.put(proc)
        parent = processes.get(ppid)
        out: list[Activity] = []
        if sockaddr is not None and name in _NET_SYSCALLS:
            fam = sockaddr.get("saddr_fam")
            if fam == "inet" or fam == "inet6":
                ip = sockaddr.get("laddr")
                port = _int(sockaddr.get("lport"))
                ip_s = str(ip) if ip is not None else None
                dns = self.dns
                hostname = dns.name_for(ip_s, rec.time, self.ctx.dns_max_age_s)
                server_name = dns.server_name_for(ip_s, rec.time)
                out.append(
                    Activity(
                        "network_connection",
                        rec,
                        {
                            "syscall": name,
                            "protocol": _infer_protocol(name, port),
                            "protocol_inferred": True,
                            "initiated": True,
                            "remote_ip": ip_s,
                            "remote_port": port,
                            "local_ip": self.ctx.local_ip,
                            "local_port": None,
                            "hostname": hostname,
                            "remote_url": hostname or server_name,
                            "outcome": connect_outcome(name, get("success"), get("exit")),
                            "ipv6": fam == "inet6",
                        },
                        proc,
                        parent,
                    )
                )
        if paths:
            for p in paths:
                self._note_inode(p)
            for p in paths:
                nametype = p.get("nametype")
                if nametype != "CREATE" and nametype != "DELETE":
                    continue
                mode = str(p.get("mode", ""))
                if mode.startswith("04"):
                    continue  # a directory, not a file (Sysmon reports files only)
                path = self._resolve_path(p, paths, sc, cwd)
                if path is None:
                    continue
                kind = "file_event" if nametype == "CREATE" else "file_delete"
                out.append(Activity(kind, rec, {"path": path, "syscall": name}, proc, parent))
        return out

    def _note_inode(self, p: dict[str, Any]) -> None:
        name = p.get("name")
        if isinstance(name, str) and name.startswith("/") and p.get("nametype") != "PARENT":
            key = (str(p.get("dev")), str(p.get("inode")))
            inodes = self._inodes
            # normpath only when needed ("//", "." or ".." parts, trailing "/"): same result.
            inodes[key] = posixpath.normpath(name) if ("//" in name or "/." in name or name[-1] == "/") else name
            inodes.move_to_end(key)
            if len(inodes) > 65536:
                inodes.popitem(last=False)

    def _resolve_path(
        self, p: dict[str, Any], paths: list[dict[str, Any]], sc: dict[str, Any], cwd: str | None
    ) -> str | None:
        """Absolute path of a CREATE/DELETE PATH record.

        A relative name is relative to the directory fd of an ``*at`` syscall (``a0``) or to
        the CWD when that fd is AT_FDCWD. For a real directory fd the PARENT record's name is
        not that directory (the kernel prints the CWD-relative name), but its inode is: look
        it up among directories seen earlier; if unknown, keep the relative name rather than
        invent a wrong path.
        """
        fname = p.get("name")
        if not isinstance(fname, str) or fname in ("(null)", ""):
            return None
        if not fname.startswith("/"):
            parent = next((q for q in paths if q.get("nametype") == "PARENT"), None)
            at_fdcwd = str(sc.get("a0", "")).lower() == "ffffff9c"
            base: str | None = None
            if parent is not None and not at_fdcwd:
                base = self._inodes.get((str(parent.get("dev")), str(parent.get("inode"))))
            elif parent is not None and isinstance(parent.get("name"), str) and parent["name"].startswith("/"):
                base = parent["name"]
            elif at_fdcwd or parent is None:
                base = cwd
            if base is None:
                return fname
            fname = posixpath.join(base, fname)
        path = posixpath.normpath(fname)
        return path[1:] if path.startswith("//") else path

    # -- Sysmon (Linux and Windows) ---------------------------------------------------------
    def _sysmon(self, rec: Record) -> list[Activity]:
        f = rec.fields
        eid = str(f.get("EventID"))
        guid = _dash(f.get("ProcessGuid"))
        if eid == "1":
            info = ProcessInfo(
                pid=_int(f.get("ProcessId")),
                ppid=_int(f.get("ParentProcessId")),
                image=_dash(f.get("Image")),
                command_line=_dash(f.get("CommandLine")),
                user=_dash(f.get("User")),
                cwd=_dash(f.get("CurrentDirectory")),
                time=rec.time,
                session=_session(f.get("TerminalSessionId")),
                guid=guid,
                parent_guid=_dash(f.get("ParentProcessGuid")),
                hashes=_dash(f.get("Hashes")),
                logon_id=_dash(str(f.get("LogonId", "")) or None),
            )
            creator = self.processes.by_guid(info.parent_guid, info.ppid) or ProcessInfo(
                pid=info.ppid,
                image=_dash(f.get("ParentImage")),
                command_line=_dash(f.get("ParentCommandLine")),
                user=_dash(f.get("ParentUser")),
                guid=info.parent_guid,
            )
            self.processes.put(info)
            return [Activity("process_creation", rec, {}, info, creator)]
        proc = self.processes.by_guid(guid, _int(f.get("ProcessId"))) or ProcessInfo(
            pid=_int(f.get("ProcessId")), image=_dash(f.get("Image")), user=_dash(f.get("User")), guid=guid
        )
        parent: ProcessInfo | None = self.processes.by_guid(proc.parent_guid, proc.ppid)
        if eid == "3":
            initiated = str(f.get("Initiated", "")).lower() == "true"
            near, far = ("Source", "Destination") if initiated else ("Destination", "Source")
            remote_ip = _dash(f.get(f"{far}Ip"))
            hostname = _dash(f.get(f"{far}Hostname")) or self.dns.name_for(remote_ip, rec.time, self.ctx.dns_max_age_s)
            return [
                Activity(
                    "network_connection",
                    rec,
                    {
                        "syscall": None,
                        "protocol": _dash(f.get("Protocol")),
                        "protocol_inferred": False,
                        "initiated": initiated,
                        "remote_ip": remote_ip,
                        "remote_port": _int(f.get(f"{far}Port")),
                        "local_ip": _dash(f.get(f"{near}Ip")),
                        "local_port": _int(f.get(f"{near}Port")),
                        "hostname": hostname,
                        "remote_url": hostname or self.dns.server_name_for(remote_ip, rec.time),
                        # Sysmon logs TCP connections once the handshake completed.
                        "outcome": "ConnectionSuccess" if initiated else "InboundConnectionAccepted",
                        "ipv6": str(f.get(f"{far}IsIpv6", "")).lower() == "true",
                    },
                    proc,
                    parent,
                )
            ]
        if eid in ("11", "23", "26"):
            path = _dash(f.get("TargetFilename"))
            if path is None:
                return []
            kind = "file_event" if eid == "11" else "file_delete"
            return [Activity(kind, rec, {"path": path, "hashes": _dash(f.get("Hashes"))}, proc, parent)]
        if eid == "22":
            answers = [a.strip() for a in str(f.get("QueryResults", "")).split(";") if a.strip()]
            return [
                Activity(
                    "dns",
                    rec,
                    {
                        "query": _dash(f.get("QueryName")),
                        "record_type": None,
                        "answers": answers,
                        "status": _dash(f.get("QueryStatus")),
                        "client_ip": None,
                        "client_port": None,
                    },
                    proc,
                    parent,
                )
            ]
        return []

    # -- resolver, proxy, firewall ----------------------------------------------------------
    def _dnsmasq(self, rec: Record) -> list[Activity]:
        f = rec.fields
        if f.get("action") != "query":
            return []
        key = (rec.file, f.get("serial") if f.get("serial") is not None else f.get("name"))
        answers = [a for _n, a in self._dns_answers.get(key, [])]
        return [
            Activity(
                "dns",
                rec,
                {
                    "query": f.get("name"),
                    "record_type": f.get("qtype"),
                    "answers": answers,
                    "status": None,
                    "client_ip": f.get("client_ip"),
                    "client_port": f.get("client_port"),
                },
            )
        ]

    def _proxy(self, rec: Record) -> list[Activity]:
        f = rec.fields
        if rec.source == "inet":
            if f.get("kind") != "http":
                return []
            host = f.get("host")
            path = str(f.get("path") or "/")
            query = f.get("query") or None
            scheme = "https" if f.get("tls") else "http"
            url = f"{scheme}://{host}{path}" + (f"?{query}" if query else "")
            return [
                Activity(
                    "proxy",
                    rec,
                    {
                        "host": host,
                        "url": url,
                        "path": path,
                        "query": query,
                        "method": f.get("method"),
                        "user_agent": f.get("user_agent"),
                        "status": f.get("status"),
                        "user": None,
                        "client_ip": f.get("client_ip"),
                        "client_port": f.get("client_port"),
                        "server_ip": f.get("server_ip"),
                        "referer": f.get("referer"),
                        "bytes": f.get("bytes"),
                    },
                )
            ]
        url = str(f.get("url") or "")
        stem: str | None = url
        squery: str | None = None
        if "://" in url:
            rest = url.split("://", 1)[1]
            slash = rest.find("/")
            stem = rest[slash:] if slash >= 0 else "/"
        if "?" in url:
            stem = (stem or "").partition("?")[0]
            squery = url.partition("?")[2] or None  # Squid's strip_query_terms leaves a bare "?"
        elif f.get("method") == "CONNECT":
            stem = None  # host:port, no path
        return [
            Activity(
                "proxy",
                rec,
                {
                    "host": f.get("host"),
                    "url": url,
                    "path": stem,
                    "query": squery,
                    "method": f.get("method"),
                    "user_agent": f.get("user_agent"),
                    "status": f.get("status"),
                    "user": f.get("user"),
                    "client_ip": f.get("client_ip"),
                    "client_port": f.get("client_port"),
                    "server_ip": f.get("server_ip"),
                    "referer": f.get("referer"),
                    "bytes": f.get("bytes"),
                },
            )
        ]

    def _firewall(self, rec: Record) -> list[Activity]:
        f = rec.fields
        proto = f.get("ip.protocol")
        proto_name = _IP_PROTO.get(str(proto), str(proto) if proto is not None else None)
        prefix = str(f.get("oob.prefix") or "").strip()
        action = f.get("action")
        if not action:
            low = prefix.lower()
            action = "drop" if ("drop" in low or "reject" in low) else ("accept" if "accept" in low else "log")
        return [
            Activity(
                "firewall",
                rec,
                {
                    "src_ip": f.get("src_ip"),
                    "dst_ip": f.get("dest_ip"),
                    "src_port": _int(f.get("src_port")),
                    "dst_port": _int(f.get("dest_port")),
                    "protocol": proto_name,
                    "action": action,
                    "prefix": prefix or None,
                    "icmp_type": _int(f.get("icmp.type")),
                },
            )
        ]
