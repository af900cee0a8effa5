"""The entry points of ganspec.resolve: a bad spec or component gives diagnostics, never an exception."""

from __future__ import annotations

from ganspec.ir.components import METRICS
from ganspec.resolve import parse_component, resolve_file, resolve_text


def test_parse_component():
    node, diags = parse_component("fid(samples: 10)", METRICS)
    assert (node.kind, node.samples, diags) == ("fid", 10, [])
    node, diags = parse_component("fidd", METRICS)
    assert node is None and [(d.code, d.hint) for d in diags] == [("E201", "did you mean 'fid'?")]
    node, diags = parse_component("fid(samples: 1 / 0)", METRICS)
    assert node is None and [d.message for d in diags] == ["division by zero"]
    node, diags = parse_component("[fid]", METRICS)
    assert node is None and [d.code for d in diags] == ["E204"]


def test_bad_input_is_diagnosed_not_raised(tmp_path):
    assert [d.code for d in resolve_file(tmp_path / "missing.gan").diagnostics] == ["E001"]
    resolved = resolve_text("experiment e {")
    assert resolved.spec is None and resolved.diagnostics and not resolved.ok
