"""Syntax-tree nodes and raw values are frozen records that behave as frozen dataclasses did."""

from __future__ import annotations

import dataclasses

import pytest

from ganspec.diagnostics import Span
from ganspec.resolve import raw as R
from ganspec.syntax import ast
from ganspec.syntax.parser import parse

SPAN = Span("x.gan", 1, 1, 1, 2)


def test_records_compare_hash_and_print_by_their_fields():
    a, b = ast.Call("relu", (), SPAN), ast.Call("relu", (), SPAN, parens=True)
    assert a == b and hash(a) == hash(b) and a.parens
    assert a != ast.Call("relu", (), SPAN, parens=False)
    assert ast.Symbol("relu", SPAN) != ast.String("relu", "relu", SPAN)  # another class is never equal
    assert repr(ast.Number("1", None)) == "Number(text='1', span=None)"
    with pytest.raises(dataclasses.FrozenInstanceError):
        a.name = "tanh"
    with pytest.raises(dataclasses.FrozenInstanceError):
        del a.name
    with pytest.raises(TypeError):
        ast.Number("1")


def test_a_file_parses_to_the_same_tree_twice():
    text = "let w = 2 * (3 + 1)\nexperiment x {\n  seed 0  # a comment\n  generator { dense(w) relu }\n}\n"
    first, second = parse(text, "x.gan"), parse(text, "x.gan")
    assert first == second and hash(first) == hash(second) and first is not second
    assert first.comments == (ast.Comment("# a comment", 3, 11, 45),)
    assert first != parse(text.replace("dense(w)", "dense(w, bias: false)"), "x.gan")


def test_raw_values_replace_and_compare():
    call = R.RCall("adam", (R.RVal(1e-4, SPAN),), {}, SPAN)
    assert call.overrides == {} and call.name_span is None
    changed = call._replace(overrides={"lr": R.RVal(2e-4, SPAN)})
    assert changed.overrides and not call.overrides and changed.args is call.args
    assert call == R.RCall("adam", (R.RVal(1e-4, SPAN, False),), {}, SPAN, {}, None)
    with pytest.raises(TypeError):
        call._replace(speed=1)
    block = R.RBlock({}, SPAN)  # the one mutable raw value: changed in place, never hashed
    block.entries = {"seed": R.RVal(0, SPAN)}
    assert block == R.RBlock({"seed": R.RVal(0, SPAN)}, SPAN) and block.key_spans == {}
    with pytest.raises(TypeError):
        hash(block)
    definition = R.RBlockDef(None, {}, SPAN)  # a block definition is itself only
    assert definition != R.RBlockDef(None, {}, SPAN) and definition == definition
    assert hash(definition) == hash(definition)
