"""Validate the whole specs/ catalogue in one process: start-up cost and specs per second.

    python bench/validate_speed.py [--runs 7] [--repeat 20] [--as-is] [--json out.json]

Reports (1) a cold run in a fresh interpreter, imports included, as a user sees
`ganspec validate specs/`, and (2) warm throughput of parse + resolve + check
(parse caching disabled, so every repeat really parses).

Ratios, not absolute times, are what compare across machines, so the cold run is measured
against two fresh interpreters in the same run, interleaved with it (a busy machine slows all
three alike): `python -c pass`, and `python -c "import lark, pydantic, rich"`, the libraries
the core install brings. Target (issue 11): the cold run at most 3x the bare imports
(`cold_over_bare_imports`).

Bytecode: an installed ganspec has its compiled bytecode, as lark, pydantic and rich have theirs.
A source checkout run with PYTHONDONTWRITEBYTECODE=1 would compile every ganspec module on every
start, which no installed copy does. So the measured processes keep their bytecode in a temporary
folder (PYTHONPYCACHEPREFIX), all three after one unmeasured warm-up each; `--as-is` measures
with the environment exactly as it is instead. ganspec's own caches (the parse tables of the
grammar) stay where they are, as for a user: the warm-up writes them if they are missing.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

TARGET_OVER_BARE_IMPORTS = 3.0
BARE_IMPORTS = "import lark, pydantic, rich"


def cold_run(specs: Path, runs: int, as_is: bool = False) -> dict[str, float]:
    """Median seconds of `ganspec validate -q specs/`, of the bare imports and of an empty
    interpreter, each in a fresh process, measured in turn `runs` times."""
    commands = {
        "validate": [sys.executable, "-m", "ganspec", "validate", "-q", str(specs)],
        "bare_imports": [sys.executable, "-c", BARE_IMPORTS],
        "empty": [sys.executable, "-c", "pass"],
    }
    with tempfile.TemporaryDirectory(prefix="ganspec-bench-pyc-") as pycache:
        env = dict(os.environ)
        if not as_is:
            env.pop("PYTHONDONTWRITEBYTECODE", None)
            env["PYTHONPYCACHEPREFIX"] = pycache

        def timed(args) -> float:
            start = time.perf_counter()
            subprocess.run(args, check=False, capture_output=True, env=env, cwd=ROOT)
            return time.perf_counter() - start

        for args in commands.values():  # warm-up: bytecode, the grammar cache, the OS file cache
            timed(args)
        times: dict[str, list[float]] = {name: [] for name in commands}
        for _ in range(runs):
            for name, args in commands.items():
                times[name].append(timed(args))
    return {name: statistics.median(values) for name, values in times.items()}


def warm_throughput(files: list[Path], repeat: int) -> float:
    from ganspec.load import load
    from ganspec.resolve import evaluate

    rates = []
    for _ in range(repeat):
        evaluate._parse_cached.cache_clear()
        start = time.perf_counter()
        for path in files:
            load(path)
        rates.append(len(files) / (time.perf_counter() - start))
    return statistics.median(rates)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=7, help="fresh processes of each command (default 7)")
    parser.add_argument("--repeat", type=int, default=20, help="passes over the catalogue for warm throughput")
    parser.add_argument("--as-is", action="store_true",
                        help="measure with the environment as it is (no temporary bytecode folder)")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    specs = ROOT / "specs"
    files = sorted(specs.rglob("*.gan"))
    cold = cold_run(specs, args.runs, args.as_is)
    validate, bare, empty = cold["validate"], cold["bare_imports"], cold["empty"]
    over_bare = validate / bare
    met = over_bare <= TARGET_OVER_BARE_IMPORTS
    rate = warm_throughput(files, args.repeat)
    result = {
        "specs": len(files),
        "runs": args.runs,
        "bytecode": "as is" if args.as_is else "cached (temporary PYTHONPYCACHEPREFIX)",
        "cold_validate_seconds": round(validate, 4),
        "bare_imports_seconds": round(bare, 4),
        "empty_interpreter_seconds": round(empty, 4),
        "cold_over_bare_imports": round(over_bare, 2),
        "cold_over_bare_imports_target": TARGET_OVER_BARE_IMPORTS,
        "cold_over_bare_imports_met": met,
        "cold_over_empty_interpreter": round(validate / empty, 2),
        "warm_specs_per_second": round(rate, 1),
        "warm_ms_per_spec": round(1000 / rate, 3),
    }
    print(f"catalogue: {len(files)} specs; cold runs: median of {args.runs} fresh processes each, "
          f"bytecode {result['bytecode']}")
    print(f"cold `ganspec validate -q specs/` (fresh process, imports included): {validate * 1000:.0f} ms")
    print(f"  {over_bare:.2f}x a bare `python -c \"{BARE_IMPORTS}\"` at {bare * 1000:.0f} ms "
          f"(cold_over_bare_imports)")
    print(f"  {validate / empty:.1f}x an empty `python -c pass` at {empty * 1000:.0f} ms")
    print(f"warm parse+resolve+check: {rate:.0f} specs/s ({1000 / rate:.2f} ms per spec)")
    print(f"target: cold run at most {TARGET_OVER_BARE_IMPORTS:g}x the bare imports -> "
          + ("met" if met else "NOT met"))
    if args.json:
        args.json.write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
