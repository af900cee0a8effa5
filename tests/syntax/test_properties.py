"""Property tests: the formatter settles in one pass and keeps meaning and comments;
the parser answers any input with diagnostics, never a crash."""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ganspec.diagnostics import Diagnostic, SpecError
from ganspec.load import load_text
from ganspec.syntax.fmt import format_text
from ganspec.syntax.parser import decode, parse
from tests.syntax.strategies import specs

SETTINGS = settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def _meaning(text: str):
    resolved = load_text(text, checks=False)
    assert resolved.spec is not None, [d.message for d in resolved.diagnostics]
    return resolved.spec.model_dump()


@SETTINGS
@given(specs())
def test_fmt_is_idempotent_and_keeps_meaning(text):
    once = format_text(text)
    assert format_text(once) == once
    assert _meaning(once) == _meaning(text)
    assert once.count("#") == text.count("#"), "every comment survives"


@SETTINGS
@given(st.text(max_size=300))
def test_random_text_gives_diagnostics_not_crashes(text):
    _only_diagnostics(text)


@SETTINGS
@given(st.binary(max_size=300))
def test_random_bytes_give_diagnostics_not_crashes(data):
    try:
        text = decode(data, "x.gan")
    except SpecError as exc:
        assert all(isinstance(d, Diagnostic) for d in exc.diagnostics)
        return
    _only_diagnostics(text)


TOKENS = ["experiment", "x", "{", "}", "(", ")", "[", "]", ",", ":", ".", "=", "let", "repeat", "generator",
          "critic", "dense", "1", "2e-4", "1_000", "-", "*", "**", "/", '"s"', "#c\n", "\n", "\r\n", "seed",
          "objective", "data", "source", "ring", "none", "true"]


@SETTINGS
@given(st.lists(st.sampled_from(TOKENS), max_size=60))
def test_token_soup_gives_diagnostics_not_crashes(tokens):
    _only_diagnostics(" ".join(tokens))


@SETTINGS
@given(specs(), st.integers(0, 10_000), st.sampled_from(["", "}", "{", "(", ")", "]", ":", "=", "#", '"', "@",
                                                          "9" * 30, "1e999", "**", ",", "\x00", "é"]))
def test_mutated_specs_give_diagnostics_not_crashes(text, position, insert):
    position %= len(text) + 1
    _only_diagnostics(text[:position] + insert + text[position:])


def _only_diagnostics(text: str) -> None:
    """Resolving + checking may report problems, but only as Diagnostics."""
    resolved = load_text(text, checks=True)
    assert all(isinstance(d, Diagnostic) for d in resolved.diagnostics)
    try:
        format_text(text)
    except SpecError as exc:
        assert exc.diagnostics


def test_deep_nesting_is_a_diagnostic():
    text = "experiment x { a " + "(" * 5000 + "1" + ")" * 5000 + " }"
    resolved = load_text(text)
    assert [d.code for d in resolved.diagnostics] == ["E013"]


def test_deep_but_allowed_nesting_parses():
    text = "experiment x { a " + "(" * 40 + "1" + ")" * 40 + " }"
    parse(text)


def test_huge_numbers_are_diagnostics():
    for expr in ["9" * 5000, "1e999", "2 ** 2 ** 2 ** 2 ** 2", "10 ** 100", "1.5 ** 10000", "1 / 0"]:
        text = f"experiment x {{ seed {expr} }}"
        resolved = load_text(text)
        codes = {d.code for d in resolved.diagnostics}
        assert codes & {"E014", "E103"}, (expr, codes)


def test_crlf_and_bom_parse_like_lf():
    lf = "experiment x {\n  seed 1\n  objective hinge\n}\n"
    crlf = "\ufeff" + lf.replace("\n", "\r\n")
    assert parse(decode(crlf.encode("utf-8"), "a")).experiment.items[0].path == ("seed",)
    assert format_text(decode(crlf.encode("utf-8"), "a")) == format_text(lf)


def test_non_utf8_is_a_diagnostic_with_position():
    try:
        decode(b'experiment x {\n  description "caf\xe9"\n}', "f.gan")
    except SpecError as exc:
        (diag,) = exc.diagnostics
        assert (diag.code, diag.span.line, diag.span.column) == ("E002", 2, 19)
    else:
        raise AssertionError("expected a diagnostic")
