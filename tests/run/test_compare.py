"""`ganspec compare` helpers that need no training run."""

from pathlib import Path

import pytest

from ganspec.report.compare import IncomparableRuns, check_comparable, run_labels, settings_of


def test_labels_are_directory_names_when_those_differ():
    assert run_labels([Path("/r/a/x-1"), Path("/r/b/x-2")]) == ["x-1", "x-2"]


def test_labels_grow_parents_until_unique():
    # Two runs started in the same second under different --out folders share a directory name.
    assert run_labels([Path("/r/a/x-1"), Path("/r/b/x-1")]) == ["a/x-1", "b/x-1"]
    assert run_labels([Path("/r/a/o/x"), Path("/r/b/o/x")]) == ["a/o/x", "b/o/x"]


def test_same_directory_twice_gets_distinct_labels():
    assert run_labels([Path("/r/x"), Path("/r/x")]) == ["x", "x (2)"]


def test_different_extractors_refuse():
    with pytest.raises(IncomparableRuns, match="features"):
        check_comparable({"a": {"features": "classifier"}, "b": {"features": "inception"}})
    check_comparable({"a": {"features": "classifier"}, "b": {"features": "classifier"}})


def test_compare_reads_the_one_check_of_the_metrics():
    from ganspec.metrics import comparison

    assert (IncomparableRuns, check_comparable, settings_of) == (comparison.IncomparableResults,
                                                                 comparison.check_comparable, comparison.settings_of)
