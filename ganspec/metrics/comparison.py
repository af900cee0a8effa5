"""Refusing to compare unlike scores: results, or runs, are comparable only when the settings
recorded beside their scores agree (feature extractor and its weights, sample counts, reference
set, metric parameters, number of modes...).

    check_comparable({"a": results_a, "b": results_b})  # raises IncomparableResults

Each result is a flat dict of one evaluation, or a run's list of them; the metric classes say
which keys are settings (ganspec.metrics.role), so results stored by any version read alike.
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
