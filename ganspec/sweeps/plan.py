"""What a sweep trains: specs x a grid of `--set` values x seeds, each point checked before anything runs.

    ganspec sweep tiny.gan --seeds 0:4 --set optimizer.critic.lr=1e-4,2e-4 --set train.batch=64

gives four points per learning rate: `--set PATH=V1,V2,...` with several values (commas inside brackets,
parentheses or quotes do not split) is an axis of the grid, several axes multiply, and one value is set on
every point. A sweep file says the same in TOML (`read_sweep_file`). Every point is resolved and checked
here, through the same loader as `ganspec run --set`, so a bad path or value is an error naming the `--set`
it came from before a directory is made.
"""

from __future__ import annotations

import dataclasses
import hashlib
import itertools
import re
from pathlib import Path

from ganspec.diagnostics import Diagnostic, Severity, SpecError, error

SEED = "seed"  # the spec's seed field (`experiment x { seed 3 }`): one point per seed
ITERATIONS = "train.iterations"
FILE_KEYS = ("spec", "specs", "seeds", "iterations", "set", "grid")


@dataclasses.dataclass(frozen=True)
class Request:
    """A sweep as asked for, before its specs are read: `fixed` values set on every point, `axes` of the grid
    (path, values), `seeds` (None: each spec's own seed). Values are spec text, as `--set` takes them."""

    specs: tuple[str, ...]
    fixed: tuple[tuple[str, str], ...] = ()
    axes: tuple[tuple[str, tuple[str, ...]], ...] = ()
    seeds: tuple[int, ...] | None = None

    def to_json(self) -> dict:
        """As sweep.json keeps it: the specs' absolute paths, so that it can be continued from anywhere."""
        return {"specs": [str(Path(s).resolve()) for s in self.specs], "set": [list(p) for p in self.fixed],
                "grid": [[path, list(values)] for path, values in self.axes],
                "seeds": list(self.seeds) if self.seeds is not None else None}

    @classmethod
    def from_json(cls, data: dict) -> "Request":
        return cls(tuple(data["specs"]), tuple((p, v) for p, v in data.get("set", [])),
                   tuple((p, tuple(vs)) for p, vs in data.get("grid", [])),
                   tuple(data["seeds"]) if data.get("seeds") is not None else None)

    def merged(self, other: "Request") -> "Request":
        """This request with `other`'s specs, values and seeds where it gives them (the command line over a
        sweep file or a sweep directory's stored request)."""
        given = {path for path, _ in other.fixed} | {path for path, _ in other.axes}
        return Request(other.specs or self.specs,
                       tuple(p for p in self.fixed if p[0] not in given) + other.fixed,
                       tuple(a for a in self.axes if a[0] not in given) + other.axes,
                       other.seeds if other.seeds is not None else self.seeds)


@dataclasses.dataclass(frozen=True)
class Point:
    """One run of a sweep: a spec with the grid's values for it and a seed, and its run directory's name."""

    name: str
    spec_file: str  # absolute
    spec_name: str
    values: tuple[tuple[str, str], ...]  # the axes' values at this point
    fixed: tuple[tuple[str, str], ...]
    seed: int
    spec: object = dataclasses.field(compare=False, repr=False)  # the resolved spec (ganspec.ir.spec.Spec)
    files: tuple[str, ...] = dataclasses.field(compare=False, repr=False, default=())

    @property
    def group(self) -> str:
        """The name without the seed: the points that differ only by seed share it."""
        return self.name.rsplit(",seed=", 1)[0]

    @property
    def overrides(self) -> list[tuple[str, str]]:
        """Every `--set` of the point, its seed last."""
        return [*self.fixed, *self.values, (SEED, str(self.seed))]

    @property
    def iterations(self) -> int:
        return self.spec.train.iterations

    def to_json(self) -> dict:
        return {"spec": self.spec_file, "spec_name": self.spec_name, "group": self.group,
                "set": [list(p) for p in self.values], "fixed": [list(p) for p in self.fixed], "seed": self.seed,
                "iterations": self.iterations}


@dataclasses.dataclass(frozen=True)
class Plan:
    """The points of one or more requests, in order, with the warnings their specs gave."""

    requests: tuple[Request, ...]
    points: tuple[Point, ...]
    warnings: tuple[Diagnostic, ...] = ()

    def __add__(self, other: "Plan") -> "Plan":
        names = {p.name for p in self.points}
        return Plan(self.requests + other.requests, self.points + tuple(p for p in other.points if p.name not in names),
                    self.warnings + other.warnings)


# ---- what the command line and sweep files say ---------------------------------------------


def split_values(text: str) -> list[str]:
    """`1e-4,2e-4` -> ["1e-4", "2e-4"]; commas inside (), [], {} or quotes do not split:
    `adam(lr: 1e-4, beta1: 0.5)` is one value."""
    values, depth, quote, start, escaped = [], 0, None, 0, False
    for i, ch in enumerate(text):
        if quote:
            if escaped:
                escaped = False
            elif ch == "\\":
                escaped = True
            elif ch == quote:
                quote = None
        elif ch in "\"'":
            quote = ch
        elif ch in "([{":
            depth += 1
        elif ch in ")]}":
            depth -= 1
        elif ch == "," and depth == 0:
            values.append(text[start:i].strip())
            start = i + 1
    values.append(text[start:].strip())
    return values


def parse_sets(items: list[str] | None, where: str = "--set") -> tuple[list, list, list[Diagnostic]]:
    """`--set PATH=V` (set on every point) and `--set PATH=V1,V2,...` (an axis) items:
    (fixed pairs, axes, diagnostics)."""
    fixed, axes, diags, seen = [], [], [], set()
    for item in items or []:
        if "=" not in item:
            diags.append(error("E105", f"{where} {item}: expected `path=value` or `path=value1,value2,...`"))
            continue
        path, text = (part.strip() for part in item.split("=", 1))
        values = split_values(text)
        if not path or any(not v for v in values):
            diags.append(error("E105", f"{where} {item}: an empty path or value"))
        elif path == SEED:
            diags.append(error("E500", f"{where} {item}: the seeds of a sweep are given with --seeds",
                               hint=f"--seeds {','.join(values)}"))
        elif path in seen:
            diags.append(error("E500", f"{where} {item}: {path} is set twice",
                               hint="give its values in one --set, separated by commas"))
        elif len(set(values)) < len(values):
            diags.append(error("E500", f"{where} {item}: a value is given twice"))
        else:
            seen.add(path)
            if len(values) == 1:
                fixed.append((path, values[0]))
            else:
                axes.append((path, tuple(values)))
    return fixed, axes, diags


def parse_seeds(text) -> tuple[int, ...]:
    """`0:10` (0 to 9), `0:10:2`, `0,3,7`, `5`, or a list of integers; ValueError saying what is wrong."""
    if isinstance(text, int) and not isinstance(text, bool):
        seeds = [text]
    elif isinstance(text, (list, tuple)):
        if not all(isinstance(s, int) and not isinstance(s, bool) for s in text):
            raise ValueError(f"{list(text)!r}: seeds are whole numbers")
        seeds = list(text)
    else:
        text = str(text).strip()
        try:
            if ":" in text:
                bounds = [int(part) for part in text.split(":")]
                if len(bounds) not in (2, 3):
                    raise ValueError
                seeds = list(range(*bounds))
            else:
                seeds = [int(part) for part in text.split(",")]
        except ValueError:
            raise ValueError(f"{text!r}: expected START:STOP (0:10 is 0 to 9), START:STOP:STEP, or a list "
                             "such as 0,3,7") from None
    if not seeds:
        raise ValueError(f"{text!r} gives no seed")
    if any(s < 0 for s in seeds):
        raise ValueError(f"{text!r}: seeds are 0 or more")
    if len(set(seeds)) < len(seeds):
        raise ValueError(f"{text!r}: a seed is given twice")
    return tuple(seeds)


def read_sweep_file(path: str | Path) -> Request:
    """A sweep file: TOML that says what the command line says. Paths are relative to the file.

        spec = "ring_wgan_gp.gan"          # or specs = ["a.gan", "b.gan"]
        seeds = "0:10"                     # or [0, 3, 7]
        iterations = 1000                  # optional

        [set]                              # on every point
        "train.batch" = 128

        [grid]                             # axes: lists of values
        "optimizer.critic.lr" = [1e-4, 2e-4]
        constraint = ["gradient_penalty(weight: 0.1)", "gradient_penalty(weight: 1)"]

    Strings are spec text (`"adam(lr: 2e-4)"`); numbers, booleans and lists are written as the spec
    language writes them. Raises SpecError (E001 unreadable, E500 what it says is wrong)."""
    path = Path(path)
    try:
        data = _toml(path.read_bytes().decode("utf-8"))
    except OSError as exc:
        raise SpecError(error("E001", f"{path}: cannot read the sweep file ({exc.strerror or exc})")) from None
    except UnicodeDecodeError:
        raise SpecError(error("E002", f"{path}: the sweep file is not UTF-8")) from None
    except ValueError as exc:  # tomllib.TOMLDecodeError
        raise SpecError(error("E500", f"{path}: not a TOML sweep file: {exc}")) from None
    diags = []
    unknown = sorted(set(data) - set(FILE_KEYS))
    if unknown:
        diags.append(error("E500", f"{path}: unknown key(s) {', '.join(unknown)}",
                           hint=f"a sweep file has {', '.join(FILE_KEYS)}"))
    specs = data.get("specs", [data["spec"]] if "spec" in data else [])
    if isinstance(specs, str) or not all(isinstance(s, str) for s in specs):
        diags.append(error("E500", f"{path}: `specs` is a list of spec files, `spec` one"))
        specs = []
    seeds = None
    if "seeds" in data:
        try:
            seeds = parse_seeds(data["seeds"])
        except ValueError as exc:
            diags.append(error("E500", f"{path}: seeds {exc}"))
    fixed = [(p, _spec_text(v)) for p, v in _flatten(data.get("set", {}))]
    if "iterations" in data:
        if not isinstance(data["iterations"], int) or data["iterations"] < 1:
            diags.append(error("E500", f"{path}: iterations is a whole number of at least 1"))
        else:
            fixed.append((ITERATIONS, str(data["iterations"])))
    axes = []
    for key, values in _flatten(data.get("grid", {})):
        if not isinstance(values, list) or not values:
            diags.append(error("E500", f"{path}: grid value {key} is a list of values, e.g. {key} = [1, 2]"))
        elif len(values) == 1:
            fixed.append((key, _spec_text(values[0])))
        else:
            axes.append((key, tuple(_spec_text(v) for v in values)))
    sets = [f"{p}={v}" for p, v in fixed] + [f"{p}={','.join(vs)}" for p, vs in axes]
    _, _, more = parse_sets(sets, where=f"{path}:")  # the same rules as --set (no seed, no path twice)
    diags.extend(more)
    if diags:
        raise SpecError(diags)
    return Request(tuple(str((path.parent / s)) for s in specs), tuple(fixed), tuple(axes), seeds)


def _toml(text: str) -> dict:
    try:
        import tomllib
    except ModuleNotFoundError:  # Python 3.10
        try:
            import tomli as tomllib
        except ModuleNotFoundError:
            raise SpecError(error("E507", "reading a sweep file needs Python 3.11 or the tomli package",
                                  hint="`pip install tomli`, or give the sweep as --seeds and --set")) from None
    return tomllib.loads(text)


def _flatten(table: dict, prefix: str = ""):
    """TOML's dotted keys (`train.batch = 64`) come as nested tables: back to dotted paths."""
    for key, value in table.items():
        if isinstance(value, dict):
            yield from _flatten(value, f"{prefix}{key}.")
        else:
            yield f"{prefix}{key}", value


def _spec_text(value) -> str:
    from ganspec.api import _spec_text as spec_text  # the API writes Python values as spec text

    return spec_text(value)


# ---- resolving every point -----------------------------------------------------------------


def build(request: Request) -> Plan:
    """Every point of `request`, each resolved and checked. Raises SpecError with every error found: the
    spec's own, then each `--set` value alone (named in the message), then the combinations."""
    from ganspec.load import load

    if not request.specs:
        raise SpecError(error("E500", "no spec to sweep", hint="`ganspec sweep SPEC --seeds 0:5`"))
    if SEED in {p for p, _ in request.fixed} | {p for p, _ in request.axes}:
        raise SpecError(error("E500", "the seeds of a sweep are its seeds (--seeds), not a value to set"))
    diags: list[Diagnostic] = []
    warnings: list[Diagnostic] = []
    points: list[Point] = []
    for spec_file in dict.fromkeys(request.specs):  # a spec named twice is swept once
        path = Path(spec_file)
        if not path.is_file():
            diags.append(error("E001", f"{path}: no such spec file"))
            continue
        alone = _errors(load(path).diagnostics)
        if alone:  # the spec itself: its findings with their places
            diags.extend(alone)
            continue
        bad = False
        for set_path, value in request.fixed:
            found = _errors(load(path, overrides=[(set_path, value)]).diagnostics)
            diags.extend(_attributed(found, f"--set {set_path}={value}"))
            bad = bad or bool(found)
        if bad:
            continue
        base = load(path, overrides=list(request.fixed))
        if _errors(base.diagnostics):
            label = " ".join(f"--set {p}={v}" for p, v in request.fixed)
            diags.extend(_attributed(_errors(base.diagnostics), f"{label} (together)"))
            continue
        for axis_path, values in request.axes:  # each value with those set on every point
            for value in values:
                found = _errors(load(path, overrides=[*request.fixed, (axis_path, value)]).diagnostics)
                diags.extend(_attributed(found, f"--set {axis_path}={value}"))
                bad = bad or bool(found)
        if bad:
            continue
        warnings.extend(d for d in base.diagnostics if d not in warnings)
        seeds = request.seeds if request.seeds is not None else (base.spec.seed,)
        for combination in itertools.product(*[[(p, v) for v in vs] for p, vs in request.axes]):
            for seed in seeds:
                resolved = load(path, overrides=[*request.fixed, *combination, (SEED, str(seed))])
                found = _errors(resolved.diagnostics)
                if found:
                    label = " ".join(f"--set {p}={v}" for p, v in combination) or path.name
                    diags.extend(_attributed(found, f"{label} (seed {seed})"))
                    break
                points.append(Point("", str(path.resolve()), base.spec.name, tuple(combination),
                                    tuple(request.fixed), seed, resolved.spec,
                                    tuple(str(Path(f).resolve()) for f in resolved.files)))
    if diags:
        raise SpecError(diags)
    named = _named(points)
    return Plan((request,), tuple(named), tuple(warnings))


def _errors(diagnostics) -> list[Diagnostic]:
    return [d for d in diagnostics if d.severity is Severity.ERROR]


def _attributed(diagnostics, label: str) -> list[Diagnostic]:
    """Errors that a value caused, said with that value: a span in the made-up `--set` text means nothing to
    the reader, so it is dropped; a span in the spec file is kept."""
    out = []
    for d in diagnostics:
        message = d.message if d.message.startswith(label) else f"{label}: {d.message}"
        span = None if d.span is None or d.span.file == "--set" else d.span
        out.append(dataclasses.replace(d, message=message, span=span))
    return out


# ---- run directory names -------------------------------------------------------------------

MAX_NAME = 150
_WHITESPACE = re.compile(r"\s+")
_UNSAFE = re.compile(r'[/\\*?<>|\x00-\x1f]')


def point_name(spec_name: str, values, seed: int) -> str:
    """`tiny,optimizer.critic.lr=1e-4,seed=3`: the spec's name, the axes' values as written (spaces dropped,
    `:` as `=`, characters no file system takes as `_`), the seed."""
    parts = [spec_name, *(f"{path}={_safe(value)}" for path, value in values), f"seed={seed}"]
    name = ",".join(parts)
    if len(name) > MAX_NAME:
        digest = hashlib.sha256(repr((spec_name, values)).encode()).hexdigest()[:8]
        name = f"{name[:MAX_NAME - 20]}~{digest},seed={seed}"
    return name


def _safe(value: str) -> str:
    return _UNSAFE.sub("_", _WHITESPACE.sub("", value).replace(":", "=").replace('"', "'"))


def _named(points: list[Point]) -> list[Point]:
    """The points with their run directory names; points whose values only differ in what a name drops
    (spaces, unsafe characters) get a short digest of their values."""
    names = [point_name(p.spec_name, p.values, p.seed) for p in points]
    counts: dict[str, set] = {}
    for name, p in zip(names, points):
        counts.setdefault(name, set()).add((p.spec_file, p.values))
    out = []
    for name, p in zip(names, points):
        if len(counts[name]) > 1:
            digest = hashlib.sha256(repr((p.spec_file, p.values)).encode()).hexdigest()[:8]
            name = name.replace(f",seed={p.seed}", f"~{digest},seed={p.seed}")
        out.append(dataclasses.replace(p, name=name))
    seen: dict[str, Point] = {}
    for p in out:
        if p.name in seen and seen[p.name].spec_file != p.spec_file:
            raise SpecError(error("E500", f"two specs are both named `{p.spec_name}` ({seen[p.name].spec_file} "
                                          f"and {p.spec_file}): their runs would share directories",
                                  hint="sweep them into different directories (--out)"))
        seen[p.name] = p
    return out
