"""Scores computed with different settings are never compared (one check, for results and runs)."""

from __future__ import annotations

import pytest

from ganspec.metrics.comparison import IncomparableResults, check_comparable, differences, settings_of

SETTINGS = {"features": "classifier", "weights_sha256": "ab" * 32, "samples": 5000, "reference": "mnist-train5k",
            "reference_samples": 5000}


def result(kind="fid", value=3.0, **changes):
    fields = {**SETTINGS, **changes}
    return {kind: value, **{f"{kind}_{field}": v for field, v in fields.items() if v is not ...}}


def test_settings_are_read_back_under_their_stored_keys():
    merged = {**result("fid"), **result("precision_recall", parameters="k=3"), "precision": 0.7, "recall": 0.6,
              "fid_real_floor": 0.5, "fid_noise": 300.0, "modes_total": 8}
    assert settings_of(merged) == {**{f"fid_{k}": v for k, v in SETTINGS.items()},
                                   **{f"precision_recall_{k}": v for k, v in SETTINGS.items()},
                                   "precision_recall_parameters": "k=3", "modes_total": 8}
    # a run's evaluations: the last recorded value of each setting
    assert settings_of([{"iteration": 1, **result()}, {"iteration": 2, **result(samples=10)}])["fid_samples"] == 10


def test_same_settings_compare():
    check_comparable({"a": result(value=3.0), "b": result(value=4.0)})


@pytest.mark.parametrize("change, why", [
    ({"features": "inception", "weights_sha256": "cd" * 32}, "`fid_features` differs between runs "
                                                             "(a: classifier, b: inception)"),
    ({"weights_sha256": "ef" * 32}, "`fid_weights_sha256` differs"),
    ({"samples": 10_000}, "`fid_samples` differs between runs (a: 5000, b: 10000)"),
    ({"reference_samples": 2500}, "`fid_reference_samples` differs between runs (a: 5000, b: 2500)"),
    ({"reference": "mnist-t10k"}, "`fid_reference` differs between runs (a: mnist-train5k, b: mnist-t10k)"),
    ({"samples": ...}, "`fid_samples` differs between runs (a: 5000, b: not recorded)"),
])
def test_different_settings_are_refused(change, why):
    with pytest.raises(IncomparableResults, match="their scores cannot be compared") as error:
        check_comparable({"a": result(), "b": result(**change)})
    assert why in str(error.value)


def test_an_unrecorded_reference_set_is_refused():
    problems = differences({"a": result(reference=...), "b": result(reference=...)})
    assert problems == ["`fid_reference` is not recorded (a, b), so the scores may use different real data"]
    assert differences({"a": result(reference=None), "b": result()}) == [
        "`fid_reference` is not recorded (a), so the scores may use different real data"]
    no_reference = {"reference": ..., "reference_samples": ..., "parameters": "splits=10"}
    check_comparable({"a": result("inception_score", **no_reference), "b": result("inception_score", **no_reference)})


def test_merged_run_results_compare_metric_by_metric():
    run_a = {**result("fid"), **result("kid", 0.01, parameters="subsets=100 subset_size=1000")}
    run_b = {**result("fid"), **result("kid", 0.02, parameters="subsets=100 subset_size=500")}
    with pytest.raises(IncomparableResults, match="`kid_parameters` differs between runs "
                                                  r"\(a: subsets=100 subset_size=1000, b: subsets"):
        check_comparable({"a": run_a, "b": run_b})
    check_comparable({"a": run_a, "b": result("fid")})  # only fid in common, and it agrees
    # a run's second fid (other features) arrives prefixed by its kind: "fid.fid_features", ...
    second = {f"fid.{k}": v for k, v in result("fid", features="inception").items()}
    with pytest.raises(IncomparableResults, match="`fid.fid_features` differs"):
        check_comparable({"a": {**run_a, **second}, "b": {**run_a, **{f"fid.{k}": v for k, v in result().items()}}})


def test_a_shared_metric_without_settings_is_refused():
    with pytest.raises(IncomparableResults, match="`fid_reference` is not recorded"):
        check_comparable({"a": {"fid": 3.0}, "b": result()})


def test_runs_compare_the_settings_they_share():
    """`ganspec compare`: a run's evaluations, or their settings_of; other recorded text is a setting too."""
    toy = [{"iteration": 10, "modes_covered": 7, "modes_total": 8, "wasserstein_distance": 0.1,
            "wasserstein_distance_real_floor": 0.01, "wasserstein_distance_noise": 2.0}]
    other = [{**toy[0], "wasserstein_distance_real_floor": 0.02}]
    check_comparable({"a": settings_of(toy), "b": settings_of(other)})  # context is not a setting
    check_comparable({"a": toy, "b": []})  # a run without evaluations compares with any
    check_comparable({"a": [{"iteration": 1, "modes_covered": 3}],
                      "b": [{"iteration": 1, "wasserstein_distance": 1.0}]})  # no setting in common
    with pytest.raises(IncomparableResults, match="`modes_total` differs between runs"):
        check_comparable({"a": toy, "b": [{**toy[0], "modes_total": 25}]})
    with pytest.raises(IncomparableResults, match="`features` differs between runs"):
        check_comparable({"a": settings_of([{"fid": 3.0, "features": "inception"}]),
                          "b": settings_of([{"fid": 2.0, "features": "classifier"}])})
