"""Validate the whole specs/ catalogue in one process: wall-clock time and specs per second.

    python bench/validate_speed.py [--repeat 20] [--json out.json]

Reports (1) a cold run in a fresh interpreter, imports included, as a user sees
`ganspec validate specs/`, and (2) warm throughput of parse + resolve + check
(parse caching disabled, so every repeat really parses). Target: the cold run
well under a second. Ratios, not absolute times, are what compare across machines:
the cold run is also reported against `python -c pass` measured in the same run.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def cold_run(specs: Path) -> tuple[float, float]:
    """Seconds for `ganspec validate specs/` in a fresh interpreter, and for an empty interpreter."""
    def timed(args):
        start = time.perf_counter()
        subprocess.run(args, check=False, capture_output=True)
        return time.perf_counter() - start

    runs = [timed([sys.executable, "-m", "ganspec", "validate", "-q", str(specs)]) for _ in range(5)]
    empty = [timed([sys.executable, "-c", "pass"]) for _ in range(5)]
    return statistics.median(runs), statistics.median(empty)


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
    parser.add_argument("--repeat", type=int, default=20)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    specs = ROOT / "specs"
    files = sorted(specs.rglob("*.gan"))
    cold, empty = cold_run(specs)
    rate = warm_throughput(files, args.repeat)
    result = {
        "specs": len(files),
        "cold_validate_seconds": round(cold, 4),
        "empty_interpreter_seconds": round(empty, 4),
        "cold_over_empty_interpreter": round(cold / empty, 2),
        "warm_specs_per_second": round(rate, 1),
        "warm_ms_per_spec": round(1000 / rate, 3),
    }
    print(f"catalogue: {len(files)} specs")
    print(f"cold `ganspec validate specs/` (fresh process, imports included): {cold * 1000:.0f} ms "
          f"({cold / empty:.1f}x an empty `python -c pass` at {empty * 1000:.0f} ms)")
    print(f"warm parse+resolve+check: {rate:.0f} specs/s ({1000 / rate:.2f} ms per spec)")
    print("target: cold run well under 1 s -> " + ("met" if cold < 1.0 else "NOT met"))
    if args.json:
        args.json.write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
