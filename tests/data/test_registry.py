"""Every data source kind the spec language knows has exactly one loader."""

from __future__ import annotations

import pytest

from ganspec.data import LOADERS
from ganspec.data.registry import register
from ganspec.ir.components import SOURCES


def test_every_source_has_a_loader():
    assert sorted(LOADERS) == SOURCES.names()


def test_a_kind_registers_once():
    with pytest.raises(ValueError, match="registered twice"):
        register("ring")(lambda request: None)
