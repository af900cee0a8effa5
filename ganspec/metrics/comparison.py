"""Refusing to compare unlike scores: results, or runs, are comparable only when the settings
recorded beside their scores agree (feature extractor and its weights, sample counts, reference
set, metric parameters, number of modes...).

    check_comparable({"a": results_a, "b": results_b})  # raises IncomparableResults
    check_comparable({name: run_settings(evaluations, spec) ...})  # runs: also their specs' metric settings

Each result is a flat dict of one evaluation, or a run's list of them; the metric classes say
which keys are settings (ganspec.metrics.role), so results stored by any version read alike.
A run's spec adds the parameters of each metric it evaluates (`mode_coverage(2500)` against
`mode_coverage(1000)`), which a result need not record.
"""

from __future__ import annotations

import json
from typing import Iterable

from ganspec.metrics import declared, role

NOT_RECORDED = "not recorded"


class IncomparableResults(ValueError):
    """Scores that were computed with different settings."""


def settings_of(results: dict | Iterable[dict]) -> dict:
    """The settings recorded in a result dict, or over a run's evaluations (the last wins), under
    their stored keys: {"fid_features": "classifier", "fid_samples": 5000, "modes_total": 8, ...}."""
    records = [results] if isinstance(results, dict) else list(results)
    return {k: v for record in records for k, v in record.items()
            if k != "iteration" and role(k, v) == "setting"}


SPEC_METRIC = "evaluate.metrics "  # the key of a metric's parameters as a spec sets them, e.g. "... mode_coverage"


def metric_parameters(spec) -> dict[str, dict]:
    """The parameters of each scoring metric a spec evaluates (the sample grid has no scores), as settings:
    {"evaluate.metrics mode_coverage": {"samples": 2500}}; a second metric of one kind is "... #2"."""
    found: dict[str, dict] = {}
    counts: dict[str, int] = {}
    for node in spec.evaluate.metrics:
        if not type(node).score_keys:
            continue
        counts[node.kind] = counts.get(node.kind, 0) + 1
        name = SPEC_METRIC + node.kind + (f" #{counts[node.kind]}" if counts[node.kind] > 1 else "")
        found[name] = {k: v for k, v in node.model_dump(mode="json").items() if k != "kind"}
    return found


def run_settings(results: dict | Iterable[dict], spec=None) -> dict:
    """The settings of a run's scores: those its results record (`settings_of`), and the parameters of the
    metrics its spec evaluates (`metric_parameters`), which runs are compared on too."""
    return {**settings_of(results), **(metric_parameters(spec) if spec is not None else {})}


def _metrics_in(results: dict | Iterable[dict]) -> set[tuple[str, type]]:
    """The metrics a result records: (key prefix, class); the prefix is "fid." for a run's second fid."""
    records = [results] if isinstance(results, dict) else list(results)
    found = set()
    for key in {k for record in records for k in record}:
        metric = declared(key)
        if metric is not None:
            found.add((key.partition(".")[0] + "." if "." in key else "", metric[0]))
    return found


def differences(results_by_name: dict[str, dict | Iterable[dict]]) -> list[str]:
    """Why the named results cannot be compared; empty when they can. A setting is compared
    between the results that record it or share its metric (where a missing one counts), and a
    metric scored against a named real set must record which."""
    results_by_name = {name: r if isinstance(r, dict) else list(r) for name, r in results_by_name.items()}
    settings = {name: settings_of(r) for name, r in results_by_name.items()}
    holders: dict[str, list[str]] = {}  # setting key -> names that record it or its metric
    references = set()  # keys of the reference sets that must be recorded
    for name, results in results_by_name.items():
        expected = set(settings[name])
        for prefix, cls in _metrics_in(results):
            expected.update(prefix + key for key in cls.setting_keys)
            if cls.records_reference:
                references.add(f"{prefix}{cls.kind_name()}_reference")
        for key in expected:
            holders.setdefault(key, []).append(name)
    problems = []
    for key in sorted(holders):
        names = holders[key]
        if len(names) < 2:
            continue
        values = {name: settings[name].get(key, NOT_RECORDED) for name in names}
        if key in references and any(v in (None, NOT_RECORDED) for v in values.values()):
            unknown = ", ".join(n for n, v in values.items() if v in (None, NOT_RECORDED))
            problems.append(f"`{key}` is not recorded ({unknown}), so the scores may use different real data")
        elif len({json.dumps(v, sort_keys=True) for v in values.values()}) > 1:
            detail = ", ".join(f"{n}: {v}" for n, v in values.items())
            problems.append(f"`{key}` differs between runs ({detail})")
    return problems


def check_comparable(results_by_name: dict[str, dict | Iterable[dict]]) -> None:
    """Raise IncomparableResults unless the named results (or their settings_of) were computed
    with the same settings."""
    problems = differences(results_by_name)
    if problems:
        raise IncomparableResults("; ".join(problems) + "; their scores cannot be compared")
