"""Hostile input to the reader (issue 14): brackets in text, and paths that are not spec files."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from ganspec import exitcodes
from ganspec.cli import main
from ganspec.diagnostics import SpecError
from ganspec.syntax.parser import MAX_DEPTH, MAX_SPEC_BYTES, parse, parse_file

VALID = """experiment t {
  description %s
  data.source ring
  latent normal(2)
  generator { dense(8) relu dense(2) }
  critic { dense(8) relu dense(1) }
  objective non_saturating
}
"""


def run(capsys, *argv):
    code = main(list(argv))
    out = capsys.readouterr()
    return code, out.out, out.err


# ---- the nesting limit counts brackets, not text ------------------------------------------------------


@pytest.mark.parametrize("description", [
    '"' + "[" * 70 + '"',
    '"' + "(" * 70 + '\\" still the string ' + "{" * 70 + '"',  # an escaped quote does not end it
    '"x" # ' + "(" * 70,  # a comment
    '"#" ' + "\n  # " + "[" * 70 + '\n  # "',  # a '#' inside a string starts no comment
])
def test_brackets_in_strings_and_comments_do_not_nest(description):
    doc = parse(VALID % description)
    assert doc.experiment.name == "t"


def test_real_nesting_is_still_refused_after_a_string():
    text = 'experiment t { description "((((" x ' + "[" * (MAX_DEPTH + 1) + "]" * (MAX_DEPTH + 1) + " }"
    with pytest.raises(SpecError) as exc:
        parse(text)
    (diag,) = exc.value.diagnostics
    assert diag.code == "E013" and diag.span.column == 36 + MAX_DEPTH  # the experiment's brace is one level


# ---- files that are not specs --------------------------------------------------------------------------


def test_a_folder_or_a_device_is_refused_before_it_is_opened(tmp_path):
    for path, what in ((tmp_path, "a folder"), (os.devnull, "a character device")):
        with pytest.raises(SpecError) as exc:
            parse_file(path)
        (diag,) = exc.value.diagnostics
        assert diag.code == "E001" and f"it is {what}, not a spec file" in diag.message


def test_a_spec_larger_than_any_spec_is_refused(tmp_path, capsys):
    path = tmp_path / "big.gan"
    path.write_text(VALID % '"x"' + "#" * MAX_SPEC_BYTES)
    code, out, _ = run(capsys, "validate", str(path))
    assert code == exitcodes.INVALID and "E003" in out and "larger than 1 MiB" in out
    code, _, err = run(capsys, "fmt", "--check", str(path))
    assert code == exitcodes.INVALID and "E003" in err


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="named pipes are a POSIX thing")
@pytest.mark.parametrize("command", ["validate", "fmt", "explain"])
def test_a_fifo_is_refused_without_blocking(tmp_path, command):
    """Nothing ever writes to the pipe: opening it to read would wait for ever. (The timeout only keeps a
    broken version from hanging the suite.)"""
    fifo = tmp_path / "pipe.gan"
    os.mkfifo(fifo)
    done = subprocess.run([sys.executable, "-m", "ganspec", command, str(fifo)], capture_output=True, text=True,
                          timeout=120, stdin=subprocess.DEVNULL)
    assert done.returncode == exitcodes.UNREADABLE
    assert "E001" in done.stdout + done.stderr and "named pipe (FIFO)" in done.stdout + done.stderr


# ---- a NUL byte reaches no path ------------------------------------------------------------------------


@pytest.mark.parametrize("text", [
    'experiment t extends "a\0b.gan" { }',  # os.path.realpath raised ValueError: exit 123
    VALID.replace('data.source ring', 'data.source idx("mnist/a\0b.gz")') % '"x"',
    VALID % '"x"' + "# a comment\0\n",
])
def test_a_nul_byte_is_an_error_at_its_place(tmp_path, capsys, text):
    spec = tmp_path / "nul.gan"
    spec.write_text(text)
    code, out, err = run(capsys, "validate", str(spec))
    assert code == exitcodes.INVALID
    assert "E011" in out + err and "NUL" in out + err and "internal error" not in out + err
    with pytest.raises(SpecError) as caught:
        parse(text, "nul.gan")
    (diagnostic,) = caught.value.diagnostics
    assert (diagnostic.span.line, diagnostic.span.column) == (
        text[:text.index("\0")].count("\n") + 1, text.index("\0") - (text.rfind("\n", 0, text.index("\0")) + 1) + 1)
