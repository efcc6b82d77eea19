"""The minimal T4 host: tokenising and whitespace as Mono.TextTemplating does, and a real render under Mono."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from harness.packages.t4 import TemplateError, main, parse_parameter, to_csharp, tokenize

TEMPLATE = """\
<#@ template language="C#" hostspecific="true" #>
<#@ output encoding="utf-16" #>
<#@ import namespace="System.Linq" #>
<#
    string type = Host.ResolveParameterValue("", "", "type");
    var names = new[] { "a", "b" };
#>
// type <#= type #>, missing <#= Host.ResolveParameterValue("", "", "nope") == null #>
<# foreach (var n in names) { #>
item <#= n #> = <#= Twice(names.ToList().IndexOf(n)) #>; ratio <#= 1.5 #>
<# } #>
path <#= System.IO.Path.GetFileName(Host.ResolvePath("manifest.xml")) #>
<#+
    int Twice(int x) { return 2 * x; }
#>
"""


def test_tokenize_kinds_and_positions() -> None:
    segs = tokenize('a<#= x #>b\n<# y #>\nc<#+ z #>\n')
    assert [(s.kind, s.text) for s in segs] == [
        ("text", "a"), ("expr", " x "), ("text", "b\n"), ("stmt", " y "), ("text", "c"), ("feature", " z "),
    ]
    assert (segs[3].line, segs[3].column) == (2, 1)


def test_newline_after_directive_and_statement_dropped_after_expression_kept() -> None:
    segs = tokenize('<#@ output x="1" #>\n<# s #>\nT<#= e #>\nU')
    texts = [s.text for s in segs if s.kind == "text"]
    assert texts == ["T", "\nU"]


def test_unclosed_block_names_file_line_column() -> None:
    with pytest.raises(TemplateError, match=r"t.tt:2:3: block is never closed"):
        tokenize("x\nab<# never", "t.tt")


def test_text_after_class_feature_is_refused() -> None:
    with pytest.raises(TemplateError, match="after a class feature"):
        to_csharp("<#+ int f() { return 1; } #>\ntext\n", "t.tt")


def test_unsupported_directive_is_refused() -> None:
    with pytest.raises(TemplateError, match="unsupported directive 'include'"):
        to_csharp('<#@ include file="x.t4" #>\n', "t.tt")


def test_program_collects_imports_and_assemblies() -> None:
    program = to_csharp('<#@ assembly name="System.Xml" #>\n<#@ import namespace="System.Xml" #>\nx\n')
    assert program.assemblies == ("System.Xml",)
    assert "using System.Xml;" in program.source and 'Write(@"x\n");' in program.source


def test_parameter_syntax() -> None:
    assert parse_parameter("!!type!header") == ("type", "header")
    assert parse_parameter("p!d!version!a!b") == ("version", "a!b")
    with pytest.raises(TemplateError):
        parse_parameter("type=header")


@pytest.mark.skipif(shutil.which("mcs") is None or shutil.which("mono") is None, reason="Mono (mono-mcs) not installed")
def test_render_under_mono(tmp_path: Path) -> None:
    tt = tmp_path / "t.tt"
    tt.write_text(TEMPLATE)
    out = tmp_path / "out.h"
    assert main([str(tt), "-out", str(out), "-a", "!!type!header"]) == 0
    assert out.read_bytes() == (
        b"// type header, missing True\n"
        b"item a = 0; ratio 1.5\n"
        b"item b = 2; ratio 1.5\n"
        b"path manifest.xml\n"
    )


@pytest.mark.skipif(shutil.which("mcs") is None, reason="Mono (mono-mcs) not installed")
def test_compile_error_is_reported(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    tt = tmp_path / "bad.tt"
    tt.write_text("<# int x = ; #>\n")
    assert main([str(tt), "-out", str(tmp_path / "o")]) == 1
    assert "mcs failed" in capsys.readouterr().err
