"""Golden files: parse -> IR JSON, spec -> error text, and the formatter."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from ganspec.load import load
from ganspec.report.diagnostics import SourceCache, render_text
from ganspec.syntax.fmt import format_text
from tests.conftest import ROOT
from tests.golden import check_golden

GOLDEN = ROOT / "tests" / "golden"


def _cases(folder: str):
    return sorted((GOLDEN / folder).glob("*.gan"), key=lambda p: p.name)


@pytest.mark.parametrize("path", _cases("ir"), ids=lambda p: p.stem)
def test_parse_to_ir(path: Path, update_golden, monkeypatch):
    monkeypatch.chdir(ROOT)
    resolved = load(path.relative_to(ROOT), checks=False)
    assert resolved.spec is not None, [d.message for d in resolved.diagnostics]
    assert not resolved.diagnostics
    actual = json.dumps(resolved.spec.model_dump(mode="json"), indent=2) + "\n"
    check_golden(path.with_suffix(".json"), actual, update_golden)


@pytest.mark.parametrize("path", [p for p in _cases("errors") if p.stem != "cycle_b"], ids=lambda p: p.stem)
def test_error_messages(path: Path, update_golden, monkeypatch):
    monkeypatch.chdir(ROOT)
    resolved = load(path.relative_to(ROOT), checks=True)
    assert resolved.diagnostics, "an error case must produce diagnostics"
    sources = SourceCache()
    actual = "\n\n".join(render_text(d, sources) for d in resolved.diagnostics) + "\n"
    check_golden(path.with_suffix(".txt"), actual, update_golden)


@pytest.mark.parametrize("path", _cases("fmt"), ids=lambda p: p.stem)
def test_formatter(path: Path):
    text = path.read_bytes().decode("utf-8")
    source, expected = text.split("# output\n", 1)
    formatted = format_text(source)
    assert formatted == expected
    assert format_text(formatted) == formatted, "fmt must settle in one pass"
