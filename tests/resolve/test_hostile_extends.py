"""`extends` reads only .gan spec files, and no error quotes a line of any other file (issue 14)."""

from __future__ import annotations

import os

import pytest

from ganspec import exitcodes
from ganspec.cli import main
from ganspec.diagnostics import Span, error
from ganspec.report.diagnostics import SourceCache, render_text
from ganspec.resolve import resolve_file
from tests.resolve.common import BASE, write

SECRET = "API_TOKEN=hunter2"


def run(capsys, *argv):
    code = main(list(argv))
    out = capsys.readouterr()
    return code, out.out + out.err


@pytest.mark.parametrize("target", ["secrets.env", "/proc/self/environ", "base.gan.txt", "base"])
def test_extends_refuses_a_file_that_is_not_a_spec_before_reading_it(tmp_path, capsys, target):
    (tmp_path / "secrets.env").write_text(SECRET + "\n")
    child = write(tmp_path, "child.gan", f'experiment child extends "{target}" {{ }}\n')
    resolved = resolve_file(child)
    (diag,) = resolved.diagnostics
    assert diag.code == "E108" and "`extends` takes a .gan spec file" in diag.message
    assert resolved.files == [str(child)]  # nothing else was read
    code, out = run(capsys, "validate", str(child))
    assert code == exitcodes.INVALID and "E108" in out and "hunter2" not in out


@pytest.mark.parametrize("kind", ["folder", "fifo"])
def test_extends_refuses_what_is_not_a_regular_file(tmp_path, kind):
    target = tmp_path / "parent.gan"
    if kind == "folder":
        target.mkdir()
    elif hasattr(os, "mkfifo"):
        os.mkfifo(target)
    else:
        pytest.skip("named pipes are a POSIX thing")
    child = write(tmp_path, "child.gan", 'experiment child extends "parent.gan" { }\n')
    (diag,) = resolve_file(child).diagnostics
    assert diag.code == "E100" and "not a spec file" in diag.message


def test_a_spec_that_is_not_a_gan_file_is_checked_but_never_quoted(tmp_path, capsys):
    """A file named outright is read as a spec; its lines are not shown, whatever it holds."""
    path = write(tmp_path, "notes.txt", SECRET + "\n")
    code, out = run(capsys, "validate", str(path))
    assert code == exitcodes.INVALID and "notes.txt:1:" in out and "hunter2" not in out


def test_the_source_cache_quotes_only_spec_files(tmp_path):
    secret = write(tmp_path, "secret.env", SECRET + "\n")
    spec = write(tmp_path, "base.gan", BASE)
    sources = SourceCache()
    assert sources.line(str(secret), 1) is None
    assert sources.line(str(spec), 3) == "experiment base {"
    shown = render_text(error("E010", "x", Span(str(secret), 1, 1, 1, 5)), sources)
    assert "hunter2" not in shown and str(secret) in shown
