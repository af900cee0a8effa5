"""Output to a file or a pipe is written without Rich, exactly as Rich would write it."""

from __future__ import annotations

import io
import os
import subprocess
import sys
from pathlib import Path

import pytest
from rich.console import Console

from ganspec.diagnostics import Span, error, warning
from ganspec.report.diagnostics import SourceCache, print_rich, render_uncoloured
from ganspec.report.report import Report

ROOT = Path(__file__).resolve().parents[2]

SOURCE = "experiment x {\n  seed = 1   \n\ufeff  lr 1e-4\n  name \"a\tb\"\n  data idx(\"m.gz\")\n}\n"


def _diagnostics(file: str):
    return [
        error("E010", "unexpected '='", Span(file, 2, 8, 2, 9), "write `seed 1`"),
        warning("W406", "data file not found: m.gz", Span(file, 5, 12, 5, 18), "get it",
                ("found while checking y.gan, which extends it",)),
        error("E204", "a value ending in spaces", Span(file, 3, 3, 3, 5)),  # a line with a byte-order mark
        error("E200", "a span over several lines", Span(file, 1, 1, 5, 2)),
        error("E500", "no source line at all"),
        error("E204", "a source line with a tab", Span(file, 4, 3, 4, 7)),  # left to Rich
        error("E204", "a message\nof two lines"),  # left to Rich
        error("E204", "a bell \x07 in the message"),  # Rich drops it: left to Rich
        error("E204", "a wide character: 漢字 and an escape \x1b[1m", hint="carets count characters"),
    ]


def _rich_text(diag, sources) -> str:
    out = io.StringIO()  # not a terminal: no colour system
    console = Console(file=out, highlight=False, soft_wrap=True)
    assert console.color_system is None
    print_rich(console, diag, sources)
    return out.getvalue()


def test_uncoloured_text_is_what_rich_writes(tmp_path):
    spec = tmp_path / "x.gan"
    spec.write_text(SOURCE, encoding="utf-8")
    sources = SourceCache()
    left_to_rich = 0
    for diag in _diagnostics(str(spec)):
        text = render_uncoloured(diag, sources)
        if text is None:
            left_to_rich += 1
            continue
        assert text == _rich_text(diag, sources), diag
    assert left_to_rich == 3


def test_report_writes_plain_text_to_a_pipe_and_rich_to_a_terminal(tmp_path, monkeypatch, capsys):
    spec = tmp_path / "x.gan"
    spec.write_text(SOURCE, encoding="utf-8")
    diagnostics = _diagnostics(str(spec))
    expected = "".join(_rich_text(d, SourceCache()) for d in diagnostics)
    for name in ("TTY_COMPATIBLE", "FORCE_COLOR"):
        monkeypatch.delenv(name, raising=False)
    report = Report()
    assert report._uncoloured
    report.add_file(str(spec), diagnostics)
    report.finish_files(0.0123)
    out = capsys.readouterr().out
    assert out == expected + ("invalid: 1 file(s) checked in 12 ms: 0 valid, 1 invalid; 8 error(s), "
                              "1 warning(s)\n")
    monkeypatch.setenv("FORCE_COLOR", "1")  # Rich would colour: Rich writes
    assert not Report()._uncoloured
    monkeypatch.setenv("FORCE_COLOR", "")  # an empty FORCE_COLOR is no terminal to Rich
    assert Report()._uncoloured
    monkeypatch.setenv("TTY_COMPATIBLE", "1")
    assert not Report()._uncoloured
    assert not Report("json")._uncoloured


def test_validate_to_a_pipe_does_not_import_rich():
    code = ("import sys; from ganspec.cli import main; code = main(['validate', '-q', 'specs/gan.gan']); "
            "print('RICH' if 'rich.console' in sys.modules else 'NO RICH', code)")
    env = {k: v for k, v in os.environ.items() if k not in ("FORCE_COLOR", "TTY_COMPATIBLE")}
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, env=env, timeout=120)
    assert done.stdout.splitlines()[-1] == "NO RICH 0", done.stdout + done.stderr
    assert "warning[W404] minimax-saturates" in done.stdout


@pytest.mark.parametrize("stderr", [False, True])
def test_summary_goes_where_the_console_would(stderr, monkeypatch, capsys):
    for name in ("TTY_COMPATIBLE", "FORCE_COLOR"):
        monkeypatch.delenv(name, raising=False)
    report = Report(stderr=stderr)
    report.add_file("a.gan", [])
    report.finish_files(0.001)
    captured = capsys.readouterr()
    line = "ok: 1 file(s) checked in 1 ms: 1 valid, 0 invalid; 0 error(s), 0 warning(s)\n"
    assert (captured.err, captured.out) == ((line, "") if stderr else ("", line))
    report.print("[bold]then[/] a result")  # a Rich console, made when first needed, on the same stream
    captured = capsys.readouterr()
    assert (captured.err or captured.out) == "then a result\n"
