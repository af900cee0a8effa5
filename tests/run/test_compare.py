"""`ganspec compare` helpers that need no training run."""

from pathlib import Path

import pytest

from ganspec.metrics.comparison import IncomparableResults, check_comparable
from ganspec.report.compare import run_labels


def test_labels_are_directory_names_when_those_differ():
    assert run_labels([Path("/r/a/x-1"), Path("/r/b/x-2")]) == ["x-1", "x-2"]


def test_labels_grow_parents_until_unique():
    # Two runs started in the same second under different --out folders share a directory name.
    assert run_labels([Path("/r/a/x-1"), Path("/r/b/x-1")]) == ["a/x-1", "b/x-1"]
    assert run_labels([Path("/r/a/o/x"), Path("/r/b/o/x")]) == ["a/o/x", "b/o/x"]


def test_same_directory_twice_gets_distinct_labels():
    assert run_labels([Path("/r/x"), Path("/r/x")]) == ["x", "x (2)"]


def test_different_extractors_refuse():
    with pytest.raises(IncomparableResults, match="features"):
        check_comparable({"a": {"features": "classifier"}, "b": {"features": "inception"}})
    check_comparable({"a": {"features": "classifier"}, "b": {"features": "classifier"}})


def test_compare_reads_the_one_check_of_the_metrics():
    from ganspec.report import compare

    # One comparability check, in ganspec.metrics.comparison: the compare report keeps no twin.
    assert not {"check_comparable", "settings_of", "IncomparableResults"} & set(vars(compare))
