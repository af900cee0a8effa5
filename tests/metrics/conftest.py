"""Metric tests never write reference statistics to the user's cache."""

from __future__ import annotations

import pytest


@pytest.fixture(autouse=True)
def private_cache(monkeypatch, tmp_path):
    monkeypatch.setenv("GANSPEC_CACHE", str(tmp_path / "cache"))
