"""Rebuild tests/data/kql/hunting/<collection>/ from git snapshots of public hunting-query repositories.

Usage: python tests/data/kql/make_hunting_corpus.py <collection>=<git dir> [...]
(collections: m365, bertjanp; the git dirs are bare clones, read with ``git show``).

Every query that reads a Device* table is kept, not a selection: a Markdown file contributes each
fenced code block that is not tagged with another language; a .txt file is one block. A block holding
several queries (a complete query, a blank line, then a line that starts a new statement) is split;
a '#' line in a fence is Markdown prose and reads as a blank line; a tabular statement closed by ';'
is complete; a fragment that opens with '|' (lines to append to another query) is not a query.
Queries are deduplicated on their text without comments and whitespace. Each output file starts
with a comment naming the repository, commit, path and licence.
"""

from __future__ import annotations

import hashlib
import itertools
import re
import subprocess
import sys
from pathlib import Path

COLLECTIONS = {
    "m365": ("microsoft/Microsoft-365-Defender-Hunting-Queries", "MIT"),
    "bertjanp": ("Bert-JanP/Hunting-Queries-Detection-Rules", "BSD-3-Clause"),
}
OUT = Path(__file__).resolve().parent / "hunting"
# Defender's Device* tables (columns such as DeviceName or DeviceId do not count)
DEVICE_TABLE = re.compile(r"\bDevice(?:[A-Za-z]*Events|Info|NetworkInfo|FileCertificateInfo|Tvm[A-Za-z]+"
                          r"|Baseline[A-Za-z]+)\b")
# a line that begins a tabular expression, and one that begins a new statement
TABULAR_START = re.compile(r"\||[A-Z]\w*\b|(?:print|union|datatable|range|search|find)\b|\(")
STATEMENT_START = re.compile(r"(?:let|print|union|datatable|search|find)\b|[A-Z]\w*\s*(?:$|\||\(|;)")
OTHER_LANGS = {"json", "powershell", "make", "yaml", "python", "bash", "ps", "ps1", "xml", "c", "cs"}


def git(gitdir: str, *args: str) -> str:
    return subprocess.run(["git", "--git-dir", gitdir, *args], check=True, capture_output=True,
                          text=True, errors="replace").stdout


def blocks(path: str, text: str) -> list[str]:
    if path.endswith(".txt") or path.endswith(".kql"):
        return [text]
    out = []
    for m in re.finditer(r"^[ \t]*```([^\n`]*)\n(.*?)^[ \t]*```", text, re.S | re.M):
        lang = m.group(1).strip().lower()
        if lang in OTHER_LANGS:
            continue
        out.append(m.group(2))
    return out


def _code(line: str) -> str:
    return re.sub(r"//.*", "", line).strip()


def split_queries(block: str) -> list[str]:
    """Split at a blank line after a complete query when the next code line starts a new statement.

    Comment lines between the blank line and that statement go with the new query.
    """
    # a Markdown heading line inside a fence ("#This query just looks for ...") is prose: KQL has no
    # '#' syntax, so it is dropped and read as the blank line that separates two queries
    lines = ["" if line.lstrip().startswith("#") else line
             for line in block.replace("\r\n", "\n").split("\n")]
    starts = [0]
    prev_code: list[str] = []
    stmt_is_let = False  # whether the statement the last code line belongs to is a let
    cut: int | None = None  # where a new query would start: just after the last blank line
    for i, line in enumerate(lines):
        code = _code(line)
        if not line.strip():
            cut = i + 1 if prev_code else None
            continue
        if not code:
            continue
        if cut is not None:
            last = prev_code[-1]
            # a tabular expression statement closed by ';' is complete too (a let is not)
            complete = (not last.endswith((";", ",", "(", "|", "=", " and", " or"))
                        or (last.endswith(";") and not stmt_is_let))
            has_tabular = any(TABULAR_START.match(x) for x in prev_code)
            starts_new = bool(STATEMENT_START.match(code))
            if complete and has_tabular and starts_new:
                starts.append(cut)
                prev_code = []
            cut = None
        if not prev_code or prev_code[-1].endswith(";"):
            stmt_is_let = code.startswith("let ")
        prev_code.append(code)
    bounds = [*starts, len(lines)]
    out = ["\n".join(lines[a:b]).strip() + "\n" for a, b in itertools.pairwise(bounds)]
    # a block that opens with '|' is a fragment to append to another query ("the last lines need to
    # be changed to the lines below"), not a query anyone runs on its own
    return [q for q in out if any(_code(x) for x in q.splitlines())
            and not next(_code(x) for x in q.splitlines() if _code(x)).startswith("|")]


def normal(q: str) -> str:
    return re.sub(r"\s+", " ", "\n".join(_code(x) for x in q.splitlines())).strip()


def slug(path: str) -> str:
    stem = re.sub(r"\.(md|txt|kql)$", "", path)
    return re.sub(r"[^a-z0-9]+", "-", stem.lower()).strip("-")[:90]


def build(name: str, gitdir: str, seen: set[str]) -> int:
    repo, licence = COLLECTIONS[name]
    commit = git(gitdir, "rev-parse", "HEAD").strip()
    files = [p for p in git(gitdir, "ls-tree", "-r", "--name-only", "HEAD").splitlines()
             if p.endswith((".md", ".txt", ".kql"))]
    dest = OUT / name
    dest.mkdir(parents=True, exist_ok=True)
    for old in dest.glob("*.kql"):
        old.unlink()
    n = 0
    for path in sorted(files):
        text = git(gitdir, "show", f"HEAD:{path}")
        k = 0
        for block in blocks(path, text):
            for query in split_queries(block):
                if not DEVICE_TABLE.search(normal(query)):
                    continue
                key = hashlib.sha256(normal(query).encode()).hexdigest()
                if key in seen:
                    continue
                seen.add(key)
                k += 1
                suffix = "" if k == 1 else f"-{k}"
                header = f"// source: {repo}@{commit[:12]}/{path} ({licence})\n"
                (dest / f"{slug(path)}{suffix}.kql").write_text(header + query, encoding="utf-8")
                n += 1
    return n


def main(argv: list[str]) -> None:
    seen: set[str] = set()
    for arg in argv:
        name, gitdir = arg.split("=", 1)
        print(f"{name}: {build(name, gitdir, seen)} queries")


if __name__ == "__main__":
    main(sys.argv[1:])
