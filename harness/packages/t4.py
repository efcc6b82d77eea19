"""A minimal T4 text-template host, run under Mono (``mcs`` + ``mono``), for building Sysmon for Linux.

Upstream renders SysmonCommon's ``manifest.tt`` with the .NET tool ``dotnet-t4``, which cannot be
installed here; Debian has Mono. This module turns a template into one C# program (the template
class plus a ``Host`` with ``ResolveParameterValue`` and ``ResolvePath``), compiles it with ``mcs``
and runs it. It supports what that template uses: directives (``template``, ``output``,
``assembly``, ``import``), statement blocks ``<# #>``, expression blocks ``<#= #>`` and class
features ``<#+ #>``. Whitespace follows Mono.TextTemplating's tokeniser: one newline right after a
directive, statement or class-feature block is dropped, after an expression it is kept.

Command line, the same as ``dotnet-t4``'s so upstream's CMake rule is unchanged::

    python3 t4.py TEMPLATE -out OUTPUT [-a '!!name!value' ...]

The output is written as UTF-8 without a byte-order mark even when the template asks for UTF-16:
upstream's next build step reads it with ``iconv -f ASCII``, which rejects a UTF-16 file, so
``dotnet-t4`` evidently writes it ASCII-compatible; ``iconv`` then also checks it is pure ASCII.

Standard library only: the package build runs it with the system ``python3``, outside the venv.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

_DIRECTIVE_ATTR = re.compile(r'(\w+)\s*=\s*"([^"]*)"')
_BLOCK_KINDS = {"@": "directive", "=": "expr", "+": "feature"}


class TemplateError(Exception):
    """A template this host cannot render, with ``file:line:column``."""


@dataclass(frozen=True)
class Segment:
    kind: str  # "text", "stmt", "expr", "feature" or "directive"
    text: str
    line: int
    column: int


@dataclass(frozen=True)
class Directive:
    name: str
    attrs: tuple[tuple[str, str], ...]

    def get(self, key: str) -> str | None:
        return next((v for k, v in self.attrs if k == key), None)


def _position(source: str, offset: int) -> tuple[int, int]:
    line = source.count("\n", 0, offset) + 1
    return line, offset - (source.rfind("\n", 0, offset) + 1) + 1


def _skip_newline(source: str, pos: int) -> int:
    if source.startswith("\r\n", pos):
        return pos + 2
    if source.startswith("\n", pos):
        return pos + 1
    return pos


def tokenize(source: str, name: str = "<template>") -> list[Segment]:
    """Split a template into text and block segments."""
    segments: list[Segment] = []
    pos = 0
    while True:
        start = source.find("<#", pos)
        if start < 0:
            if pos < len(source):
                segments.append(Segment("text", source[pos:], *_position(source, pos)))
            return segments
        if start > pos:
            segments.append(Segment("text", source[pos:start], *_position(source, pos)))
        kind = _BLOCK_KINDS.get(source[start + 2 : start + 3], "stmt")
        body_start = start + (2 if kind == "stmt" else 3)
        end = source.find("#>", body_start)
        if end < 0:
            line, col = _position(source, start)
            raise TemplateError(f"{name}:{line}:{col}: block is never closed with '#>'")
        segments.append(Segment(kind, source[body_start:end], *_position(source, start)))
        pos = end + 2
        if kind != "expr":
            pos = _skip_newline(source, pos)


def parse_directive(segment: Segment) -> Directive:
    body = segment.text.strip()
    name, _, rest = body.partition(" ")
    return Directive(name, tuple(_DIRECTIVE_ATTR.findall(rest)))


def _csharp_string(text: str) -> str:
    # A verbatim string: only '"' needs escaping, newlines stay as they are.
    return '@"' + text.replace('"', '""') + '"'


_PROGRAM_HEAD = """\
{usings}

public class T4Host
{{
    readonly Dictionary<string, string> parameters;
    readonly string templateDir;

    public T4Host(string templateDir, Dictionary<string, string> parameters)
    {{
        this.templateDir = templateDir;
        this.parameters = parameters;
    }}

    // Like Mono.TextTemplating's host: an unknown parameter is null, not "".
    public string ResolveParameterValue(string directiveId, string processorName, string parameterName)
    {{
        string value;
        return parameters.TryGetValue(parameterName, out value) ? value : null;
    }}

    public string ResolvePath(string path)
    {{
        return Path.IsPathRooted(path) ? path : Path.Combine(templateDir, path);
    }}
}}

public class GeneratedTextTransformation
{{
    public T4Host Host;
    readonly StringBuilder output = new StringBuilder();

    public void Write(string text) {{ output.Append(text); }}
    public void WriteLine(string text) {{ output.Append(text); output.Append('\\n'); }}

    // T4's ToStringHelper: expressions are formatted with the invariant culture.
    static string Str(object value)
    {{
        if (value == null) throw new ArgumentNullException("expression block value");
        IConvertible convertible = value as IConvertible;
        return convertible != null
            ? convertible.ToString(System.Globalization.CultureInfo.InvariantCulture)
            : value.ToString();
    }}

    public string TransformText()
    {{
"""

_PROGRAM_TAIL = """\
        return output.ToString();
    }}

{features}

    public static int Main(string[] args)
    {{
        System.Threading.Thread.CurrentThread.CurrentCulture = System.Globalization.CultureInfo.InvariantCulture;
        var parameters = new Dictionary<string, string>();
        for (int i = 2; i + 1 < args.Length; i += 2) parameters[args[i]] = args[i + 1];
        var template = new GeneratedTextTransformation();
        template.Host = new T4Host(Path.GetDirectoryName(Path.GetFullPath(args[0])), parameters);
        string text = template.TransformText();
        File.WriteAllText(args[1], text, new UTF8Encoding(false));
        return 0;
    }}
}}
"""


@dataclass(frozen=True)
class Program:
    source: str
    assemblies: tuple[str, ...]


def to_csharp(source: str, name: str = "<template>") -> Program:
    """The C# program that renders the template."""
    usings = ["System", "System.IO", "System.Text", "System.Collections.Generic"]
    assemblies: list[str] = []
    body: list[str] = []
    features: list[str] = []
    for seg in tokenize(source, name):
        where = f"{name}:{seg.line}:{seg.column}"
        if seg.kind == "directive":
            directive = parse_directive(seg)
            if directive.name == "import" and directive.get("namespace"):
                usings.append(str(directive.get("namespace")))
            elif directive.name == "assembly" and directive.get("name"):
                assemblies.append(str(directive.get("name")))
            elif directive.name == "template" and directive.get("language") not in (None, "C#"):
                raise TemplateError(f"{where}: only C# templates are supported")
            elif directive.name not in ("template", "output", "import", "assembly"):
                raise TemplateError(f"{where}: unsupported directive '{directive.name}'")
        elif features and (seg.kind in ("stmt", "expr") or (seg.kind == "text" and seg.text.strip())):
            # T4 would turn such text into a helper method; this template never needs that.
            raise TemplateError(f"{where}: text or blocks after a class feature block are not supported")
        elif seg.kind == "text":
            if seg.text.strip() or not features:
                body.append(f"Write({_csharp_string(seg.text)});")
        elif seg.kind == "stmt":
            body.append(f"#line {seg.line} \"{name}\"\n{seg.text}\n#line default")
        elif seg.kind == "expr":
            body.append(f"Write(Str({seg.text.strip()}));")
        else:
            features.append(f"#line {seg.line} \"{name}\"\n{seg.text}\n#line default")
    head = _PROGRAM_HEAD.format(usings="\n".join(f"using {u};" for u in dict.fromkeys(usings)))
    tail = _PROGRAM_TAIL.format(features="\n".join(features))
    return Program(head + "\n".join(body) + "\n" + tail, tuple(dict.fromkeys(assemblies)))


def parse_parameter(arg: str) -> tuple[str, str]:
    """``dotnet-t4``'s ``-a`` value ``processor!directive!name!value`` (the first two may be empty)."""
    parts = arg.split("!", 3)
    if len(parts) != 4 or not parts[2]:
        raise TemplateError(f"-a {arg!r}: expected '[processor]![directive]!name!value'")
    return parts[2], parts[3]


def render(template: Path, output: Path, parameters: dict[str, str]) -> None:
    """Compile the template with ``mcs`` and run it with ``mono``, writing ``output``."""
    for tool in ("mcs", "mono"):
        if shutil.which(tool) is None:
            raise TemplateError(f"{tool} not found: install the Debian packages mono-mcs and mono-runtime")
    program = to_csharp(template.read_text(encoding="utf-8-sig"), str(template))
    with tempfile.TemporaryDirectory(prefix="t4-") as tmp:
        cs, exe = Path(tmp, "template.cs"), Path(tmp, "template.exe")
        cs.write_text(program.source, encoding="utf-8")
        refs = [f"-r:{a}.dll" for a in program.assemblies]
        compiled = subprocess.run(
            ["mcs", "-nologo", "-warn:0", *refs, f"-out:{exe}", str(cs)], capture_output=True, text=True, check=False
        )
        if compiled.returncode != 0:
            raise TemplateError(f"{template}: mcs failed:\n{compiled.stdout}{compiled.stderr}")
        args = [a for kv in parameters.items() for a in kv]
        ran = subprocess.run(
            ["mono", str(exe), str(template), str(output), *args], capture_output=True, text=True, check=False
        )
        if ran.returncode != 0:
            raise TemplateError(f"{template}: the template failed:\n{ran.stdout}{ran.stderr}")


def main(argv: list[str]) -> int:
    usage = "usage: t4.py TEMPLATE -out OUTPUT [-a '!!name!value' ...]"
    template: Path | None = None
    output: Path | None = None
    parameters: dict[str, str] = {}
    it = iter(argv)
    try:
        for arg in it:
            if arg == "-out":
                output = Path(next(it))
            elif arg == "-a":
                key, value = parse_parameter(next(it))
                parameters[key] = value
            elif template is None and not arg.startswith("-"):
                template = Path(arg)
            else:
                print(f"t4.py: unexpected argument {arg!r}\n{usage}", file=sys.stderr)
                return 2
        if template is None or output is None:
            print(usage, file=sys.stderr)
            return 2
        render(template, output, parameters)
    except StopIteration:
        print(usage, file=sys.stderr)
        return 2
    except TemplateError as exc:
        print(f"t4.py: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
