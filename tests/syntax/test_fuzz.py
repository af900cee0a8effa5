"""Fuzzing `ganspec validate` and `ganspec fmt` in-process (issue 14): the catalogue specs, mutated at random
(characters and bytes inserted, deleted, cut off; brackets, quotes, huge numbers, unicode, invalid UTF-8), and
random bytes. Whatever the input, the command answers with diagnostics and an exit code, never an internal
error (123) or an exception; and a file `fmt` formats formats to itself and validates the same.

Reproducible and not speed dependent: derandomized, no deadline, a fixed number of examples."""

from __future__ import annotations

import contextlib
import io
import json
import re
import shutil
from pathlib import Path

import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from ganspec import exitcodes
from ganspec.cli import main
from tests.conftest import ROOT

CATALOGUE = sorted((ROOT / "specs").rglob("*.gan"))
FUZZ = settings(max_examples=200, deadline=None, derandomize=True, database=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.filter_too_much])

HUGE = ["9" * 400, "1e999", "-1e309", "1" + "0" * 5000, "2 ** 99999", "10 ** 10 ** 10", "0x" + "f" * 40,
        "1_" * 200 + "1", "1e-999", "9" * 20 + "." + "9" * 20, "-" * 50 + "1", "(" * 300 + "1"]
PUNCTUATION = list("{}()[]\"'#:,.=*+-/\\@$`;<>|~") + ['"""', "\\\"", "#\n", "\n}", "{\n", "\"\n"]
UNICODE = ["é", "ß", "\u00a0", "\u200b", "\u202e", "\ufeff", "\U0001f600", "\x00", "\x0b", "\x0c", "\r", "\u2028",
           "ｅｘｐｅｒｉｍｅｎｔ", "\ud800", "\udfff", "𝟏", "١٢٣"]
NUMBER = re.compile(r"\d[\d_.eE+-]*")


def _spec_folder(tmp_path_factory) -> Path:
    """A copy of specs/, so that a mutated spec sits beside the specs it extends."""
    copy = tmp_path_factory.mktemp("fuzz") / "specs"
    shutil.copytree(ROOT / "specs", copy, ignore=shutil.ignore_patterns("*.png", "*.json"))
    return copy


@pytest.fixture(scope="module")
def specs_copy(tmp_path_factory) -> Path:
    return _spec_folder(tmp_path_factory)


@st.composite
def mutation(draw, text: str) -> str:
    """`text` with one random edit."""
    at = draw(st.integers(0, len(text)))
    kind = draw(st.sampled_from(["insert", "delete", "truncate", "punctuation", "huge", "number", "unicode",
                                 "duplicate_line", "drop_line"]))
    if kind == "insert":
        return text[:at] + draw(st.text(max_size=12)) + text[at:]
    if kind == "delete":
        return text[:at] + text[at + draw(st.integers(1, 40)):]
    if kind == "truncate":
        return text[:at]
    if kind == "punctuation":
        return text[:at] + draw(st.sampled_from(PUNCTUATION)) + text[at:]
    if kind == "huge":
        return text[:at] + draw(st.sampled_from(HUGE)) + text[at:]
    if kind == "number":  # a number of the spec made huge (or odd), where a number is expected
        numbers = list(NUMBER.finditer(text))
        if not numbers:
            return text
        found = numbers[draw(st.integers(0, len(numbers) - 1))]
        return text[:found.start()] + draw(st.sampled_from(HUGE + ["0", "-1", "0.0", "1e-320"])) + text[found.end():]
    if kind == "unicode":
        return text[:at] + draw(st.sampled_from(UNICODE)) + text[at:]
    lines = text.splitlines(keepends=True)
    if not lines:
        return text
    line = draw(st.integers(0, len(lines) - 1))
    if kind == "duplicate_line":
        return "".join(lines[:line + 1] + lines[line:])
    return "".join(lines[:line] + lines[line + 1:])


@st.composite
def mutated_specs(draw) -> tuple[Path, bytes]:
    """(a catalogue spec's path relative to specs/, its text with 1 to 4 random edits, as bytes)."""
    path = draw(st.sampled_from(CATALOGUE))
    text = path.read_text(encoding="utf-8")
    for _ in range(draw(st.integers(1, 4))):
        text = draw(mutation(text))
    data = text.encode("utf-8", errors="surrogatepass")  # a lone surrogate: invalid UTF-8 in the file
    if draw(st.integers(0, 9)) == 0:  # now and then a byte-level edit as well
        at = draw(st.integers(0, len(data)))
        data = data[:at] + draw(st.binary(min_size=1, max_size=8)) + data[at:]
    return path.relative_to(ROOT / "specs"), data


def ganspec(*argv) -> tuple[int, str]:
    """`ganspec ARGV...` in this process: (exit code, standard output and error)."""
    out = io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(out):
        try:
            code = main([str(a) for a in argv])
        except SystemExit as exc:  # argparse's way; a command should not exit this way
            code = exc.code if isinstance(exc.code, int) else 2
    return code, out.getvalue()


def diagnostics(path: Path) -> tuple[int, list[tuple[str, str]]]:
    """`validate --format json PATH`: (exit code, the sorted (code, severity) of its diagnostics)."""
    code, out = ganspec("validate", "--format", "json", path)
    assert code not in (exitcodes.INTERNAL_ERROR, None), out
    try:
        files = json.loads(out)["files"]
    except (ValueError, KeyError) as exc:
        raise AssertionError(f"validate --format json printed no report ({exc}):\n{out}") from None
    return code, sorted((d["code"], d["severity"]) for f in files for d in f["diagnostics"])


def check_commands(path: Path, data: bytes) -> None:
    """validate and fmt on a file holding `data`: exit codes that mean an answer, never an internal error;
    a file fmt formats formats to itself and validates as before."""
    path.write_bytes(data)
    before = diagnostics(path)
    assert before[0] in (exitcodes.OK, exitcodes.INVALID), before
    code, out = ganspec("validate", "-q", path)
    assert code == before[0], out
    code, out = ganspec("fmt", path)
    event(f"validate exits {before[0]}, fmt exits {code}")  # pytest --hypothesis-show-statistics
    assert code in (exitcodes.OK, exitcodes.INVALID), f"fmt exited {code}:\n{out}"
    if code != exitcodes.OK:
        assert path.read_bytes() == data, "fmt changed a file it could not format"
        assert "error" in out
        return
    formatted = path.read_bytes()
    code, out = ganspec("fmt", "--check", path)
    assert code == exitcodes.OK, f"fmt is not idempotent:\n{out}"
    assert path.read_bytes() == formatted
    if before[0] == exitcodes.OK:  # a valid spec stays valid, with the same warnings
        assert diagnostics(path) == before


@FUZZ
@given(mutated_specs())
def test_mutated_catalogue_specs_never_crash_validate_or_fmt(specs_copy, case):
    relative, data = case
    check_commands(specs_copy / relative.parent / "fuzzed.gan", data)


@FUZZ
@given(st.one_of(st.binary(max_size=600), st.text(max_size=300).map(lambda t: t.encode("utf-8", "surrogatepass"))))
def test_random_bytes_never_crash_validate_or_fmt(specs_copy, data):
    check_commands(specs_copy / "fuzzed.gan", data)


@settings(FUZZ, max_examples=100)
@given(st.sampled_from(CATALOGUE), st.data())
def test_formatting_a_catalogue_spec_settles_and_validates_the_same(specs_copy, path, data):
    """Unmutated specs with random layout edits that keep them valid: blank lines, spaces, comments."""
    text = path.read_text(encoding="utf-8")
    lines = text.splitlines(keepends=True)
    for _ in range(data.draw(st.integers(1, 6))):
        line = data.draw(st.integers(0, len(lines)))
        lines.insert(line, data.draw(st.sampled_from(["\n", "  \n", "# a comment\n", "\t# tab {\n", "\r\n"])))
    check_commands(specs_copy / path.relative_to(ROOT / "specs").parent / "fuzzed.gan", "".join(lines).encode())

