"""The Report: one object turns a command's diagnostics into output and the exit code."""

from __future__ import annotations

import ast
import json
from pathlib import Path

import pytest

from ganspec import exitcodes
from ganspec.diagnostics import CODES, Span, error, warning
from ganspec.report.report import Report, decide_exit_code

ROOT = Path(__file__).resolve().parents[2]

UNREADABLE = error("E001", "cannot read x.gan: No such file or directory", Span("x.gan", 1, 1, 1, 1))
INVALID = error("E303", "the generator makes (3,), the data is (2,)")
WARNED = warning("W404", "the minimax generator loss saturates")


@pytest.mark.parametrize("diagnostics, options, expected", [
    ([], {}, exitcodes.OK),
    ([WARNED], {}, exitcodes.OK),
    ([WARNED], {"strict": True}, exitcodes.WARNINGS_STRICT),
    ([INVALID, WARNED], {"strict": True}, exitcodes.INVALID),
    ([INVALID, UNREADABLE], {}, exitcodes.UNREADABLE),
    ([error("E503", "no such checkpoint")], {}, exitcodes.UNREADABLE),
    ([error("E002", "not UTF-8")], {}, exitcodes.INVALID),
    ([], {"different": True}, exitcodes.DIFFERENT),
    ([INVALID], {"different": True}, exitcodes.INVALID),
    ([], {"outcome": exitcodes.DIVERGED}, exitcodes.DIVERGED),
    ([WARNED], {"outcome": exitcodes.INTERRUPTED, "strict": True}, exitcodes.INTERRUPTED),
])
def test_exit_code_is_decided_in_one_place(diagnostics, options, expected):
    assert decide_exit_code(diagnostics, **options) == expected


def test_human_output_is_written_as_findings_arrive(tmp_path, capsys):
    spec = tmp_path / "x.gan"
    spec.write_text("experiment x {\n  seed = 1\n}\n")
    report = Report()
    report.add(error("E010", "unexpected '='", Span(str(spec), 2, 8, 2, 9), "write `seed 1`"))
    out = capsys.readouterr().out
    assert f"error[E010] syntax-error: unexpected '='\n  --> {spec}:2:8" in out
    assert "2 |   seed = 1" in out and "  |        ^" in out and "= hint: write `seed 1`" in out
    assert report.failed and report.exit_code == exitcodes.INVALID


def test_json_keeps_diagnostics_for_one_document(capsys):
    report = Report("json")
    report.add_file("a.gan", [WARNED])
    report.add_file("b.gan", [])
    assert capsys.readouterr().out == ""
    report.finish_files(0.01)
    data = json.loads(capsys.readouterr().out)
    assert data["summary"] == {"files": 2, "errors": 0, "warnings": 1}
    assert [f["file"] for f in data["files"]] == ["a.gan", "b.gan"]
    assert report.exit_code == exitcodes.OK


def test_github_strict_annotates_warnings_as_errors(capsys):
    report = Report("github", strict=True)
    report.add(warning("W404", "saturates", Span("a.gan", 6, 13, 6, 20)))
    assert capsys.readouterr().out.startswith("::error file=a.gan,line=6")
    assert report.exit_code == exitcodes.WARNINGS_STRICT


def test_side_notes_leave_a_json_stdout_alone(capsys):
    report = Report(data_on_stdout=True)
    report.note("backend: jax (from --backend; the spec says tensorflow)")
    report.data({"ok": True})
    out, err = capsys.readouterr()
    assert json.loads(out) == {"ok": True} and "backend: jax" in err


def test_errors_of_other_stages_carry_diagnostics():
    from ganspec.backend import BackendError, activate
    from ganspec.metrics.features import FeatureError

    with pytest.raises(BackendError) as raised:
        activate("torch")
    (diag,) = raised.value.diagnostics
    assert (diag.code, diag.name, diag.message) == ("E501", "backend-unavailable", "unknown backend 'torch'")
    assert diag.hint == "choose one of: tensorflow, jax"
    feature = FeatureError("no images to compute features of", "give it some")
    assert (feature.diagnostics[0].code, feature.message, feature.hint) == ("E506", "no images to compute features of",
                                                                           "give it some")


def test_new_codes_have_names():
    for code in ("E500", "E501", "E502", "E503", "E504", "E505", "E506"):
        assert CODES[code] != "unknown"
    assert len(set(CODES.values())) == len(CODES)


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text())
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
        elif isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
    return names


def test_no_module_reaches_back_to_the_command_line():
    """The parser imports the commands; commands and reports never import the parser, and the
    backend switch imports nothing from the run stage above it."""
    for path in (ROOT / "ganspec").rglob("*.py"):
        if path != ROOT / "ganspec" / "__main__.py":
            assert "ganspec.cli" not in _imports(path), path
    assert not [m for m in _imports(ROOT / "ganspec" / "backend.py") if m.startswith("ganspec.run")]


def test_a_terminal_sees_the_quoted_source_highlighted_as_gan_code(tmp_path):
    """validate's source excerpts go through the .gan Pygments lexer on a colour terminal; the plain
    text (files, CI logs, goldens) is unchanged."""
    import io

    from rich.console import Console

    from ganspec.report.diagnostics import SourceCache, print_rich, render_text

    spec = tmp_path / "x.gan"
    spec.write_text("experiment x {\n  critic { conv(64, kernel: 3) }\n}\n")
    diag = error("E202", "bad", Span(str(spec), 2, 12, 2, 16, 0, 0))
    out = io.StringIO()
    print_rich(Console(file=out, force_terminal=True, color_system="standard", width=120), diag, SourceCache())
    coloured = out.getvalue()
    assert "\x1b[" in coloured.split("2 | ", 1)[1].split("\n", 1)[0]  # the source line carries colours
    plain = render_text(diag, SourceCache())
    assert "2 |   critic { conv(64, kernel: 3) }" in plain and "\x1b[" not in plain
