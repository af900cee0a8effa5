"""The README, CI script and generated reference agree with the code."""

from __future__ import annotations

import re

from ganspec.reference import render
from tests.conftest import ROOT


def _readme_commands() -> list[str]:
    text = (ROOT / "README.md").read_text()
    section = text.split("## Two commands", 1)[1].split("\n## ", 1)[0]
    return re.findall(r"^    (\S.*)$", section, flags=re.M)


def test_ci_runs_exactly_the_readme_test_command():
    main_job, tests = _readme_commands()
    ci_lines = [line for line in (ROOT / ".ci" / "run").read_text().splitlines() if line and not line.startswith("#")]
    assert ci_lines[-1] == tests
    assert main_job.startswith('python -m pip install -e ".[tensorflow]" && ganspec ')  # training needs the extra


def test_reference_is_current():
    assert (ROOT / "docs" / "reference.md").read_text() == render() + "\n", \
        "regenerate with: python -m ganspec.reference > docs/reference.md"


def test_every_registered_objective_and_divergence_has_a_spec():
    from ganspec.ir.components import F_DIVERGENCES, OBJECTIVES
    from ganspec.load import load
    from tests.conftest import all_spec_files

    used_objectives, used_divergences, used_constraints = set(), set(), set()
    for path in all_spec_files():
        spec = load(path, checks=False).spec
        used_objectives.add(spec.objective.kind)
        used_constraints.update(c.kind for c in spec.constraints)
        if spec.objective.kind == "f_divergence":
            used_divergences.add(spec.objective.divergence)
    assert used_objectives == set(OBJECTIVES.names())
    assert used_divergences == set(F_DIVERGENCES)
    assert {"weight_clip", "spectral_norm", "gradient_penalty"} <= used_constraints
