"""Scores computed with different settings are never compared."""

from __future__ import annotations

import pytest

from ganspec.metrics.images import IncomparableResults, check_comparable, settings_differences, settings_of

SETTINGS = {"features": "classifier", "weights_sha256": "ab" * 32, "samples": 5000, "reference": "mnist-train5k",
            "reference_samples": 5000}


def result(kind="fid", value=3.0, **changes):
    fields = {**SETTINGS, **changes}
    return {kind: value, **{f"{kind}_{field}": v for field, v in fields.items() if v is not ...}}


def test_settings_are_read_back_by_metric():
    merged = {**result("fid"), **result("precision_recall", parameters="k=3"), "precision": 0.7, "recall": 0.6}
    assert settings_of(merged) == {"fid": SETTINGS, "precision_recall": {**SETTINGS, "parameters": "k=3"}}


def test_same_settings_compare():
    check_comparable(result(value=3.0), result(value=4.0))


@pytest.mark.parametrize("change, why", [
    ({"features": "inception", "weights_sha256": "cd" * 32}, "features 'classifier' vs 'inception'"),
    ({"weights_sha256": "ef" * 32}, "weights_sha256"),
    ({"samples": 10_000}, "samples 5000 vs 10000"),
    ({"reference_samples": 2500}, "reference_samples 5000 vs 2500"),
    ({"reference": "mnist-t10k"}, "reference 'mnist-train5k' vs 'mnist-t10k'"),
])
def test_different_settings_are_refused(change, why):
    with pytest.raises(IncomparableResults, match="cannot be compared") as error:
        check_comparable(result(), result(**change))
    assert why in str(error.value)


def test_an_unrecorded_reference_set_is_refused():
    problems = settings_differences(result(reference=...), result(reference=...))
    assert problems == ["fid: the reference set is not recorded, so the scores may use different real data"]
    no_reference = {"reference": ..., "reference_samples": ..., "parameters": "splits=10"}
    check_comparable(result("inception_score", **no_reference), result("inception_score", **no_reference))


def test_merged_run_results_compare_metric_by_metric():
    run_a = {**result("fid"), **result("kid", 0.01, parameters="subsets=100 subset_size=1000")}
    run_b = {**result("fid"), **result("kid", 0.02, parameters="subsets=100 subset_size=500")}
    with pytest.raises(IncomparableResults, match="kid: parameters 'subsets=100 subset_size=1000' vs"):
        check_comparable(run_a, run_b)
    check_comparable(run_a, result("fid"))  # only fid in common, and it agrees
    # a run's second fid (other features) arrives prefixed by its kind: "fid.fid_features", ...
    second = {f"fid.{k}": v for k, v in result("fid", features="inception").items()}
    with pytest.raises(IncomparableResults, match="fid.fid: features"):
        check_comparable({**run_a, **second}, {**run_a, **{f"fid.{k}": v for k, v in result("fid").items()}})


def test_results_without_settings_are_refused():
    with pytest.raises(IncomparableResults, match="records no metric settings"):
        check_comparable({"fid": 3.0}, result())
    with pytest.raises(IncomparableResults, match="no metric in common"):
        check_comparable(result("fid"), result("kid"))
