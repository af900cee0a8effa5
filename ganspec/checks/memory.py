"""A static estimate of the memory a training run needs, from the network tables (no TensorFlow).

    training_memory(spec, [(input_shape, rows), ...], sample_shape, spec_dir) -> MemoryEstimate

It adds what a run holds at once, each part a lower bound in 4-byte floats:

- weights: each trainable weight four times (the weight, its gradient, Adam's two moment slots),
  each non-trainable one once;
- activations: every layer's output for a batch, and the network's input, three times (the forward
  values and what the backward pass keeps and makes);
- data: what the data source holds in memory, where that is cheap to know (a toy mixture's modes, the
  array an IDX or .npz header declares, else a data file's size on disk);
- metrics: the largest buffer of one metric (they run one after another), where a metric's sample count
  sets it: `wasserstein_distance(n)` builds n x n costs in float64.

`check_memory` refuses a spec above HARD_LIMIT (E313: no machine trains it; `dense(10**9)`, `batch 10**9`)
and warns above this machine's physical memory (W416).
"""

from __future__ import annotations

import math
import os
import struct
import zipfile
from dataclasses import asdict, dataclass

from ganspec.diagnostics import error, warning
from ganspec.ir import layers as L
from ganspec.ir.datashape import find_data_file, read_idx_header, read_npz_shape

FLOAT = 4  # bytes of a float32 weight or activation
SLOTS = 4  # a trainable weight, its gradient, Adam's first and second moments
BACKWARD = 3  # activations kept for the backward pass and the gradients it makes, per forward value
HARD_LIMIT = 2**40  # 1 TiB: beyond any one machine a spec is trained on

# Bytes a toy source holds: its modes (2 float64 coordinates) and the arrays that make them.
TOY_MODES = {"ring": lambda source: source.modes, "grid": lambda source: source.side**2}
MODE_BYTES = 6 * 8


def _metric_bytes(metric, values: int, modes: int | None) -> int:
    """The largest buffer one evaluation of `metric` builds, for samples of `values` numbers each."""
    samples = metric.samples
    if metric.kind == "wasserstein_distance":  # the n x n x d differences, then the n x n costs (float64)
        return samples * samples * (values + 1) * 8
    if metric.kind == "mode_coverage" and modes is not None:  # samples x modes x d differences, float64
        return samples * modes * (values + 1) * 8
    return 2 * samples * values * FLOAT  # generated and real samples held side by side


@dataclass(frozen=True)
class MemoryEstimate:
    """Bytes a training run holds at once, by part (see the module's docstring)."""

    weights: int
    activations: int
    data: int
    metrics: int

    @property
    def total(self) -> int:
        return self.weights + self.activations + self.data + self.metrics

    def to_json(self) -> dict:
        return {**asdict(self), "total": self.total}

    def text(self) -> str:
        """`about 1.2 GiB (weights 3.1 MiB, activations 1.2 GiB, data 0 B, metrics 24 MiB)`."""
        parts = ", ".join(f"{name} {size_text(getattr(self, name))}" for name in ("weights", "activations", "data",
                                                                                  "metrics"))
        return f"about {size_text(self.total)} ({parts})"


def size_text(size: int) -> str:
    """Bytes for people: `512 B`, `3.1 MiB`, `2.0 TiB`; past the units, a power of 2."""
    value = float(size)
    for unit in ("B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB"):
        if value < 1024 or unit == "EiB":
            return f"{size} B" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{size} B"  # not reached


def _values(shape) -> int:
    return math.prod(shape) if shape is not None else 0


def training_memory(spec, networks, sample_shape, spec_dir=None) -> MemoryEstimate:
    """The estimate for `spec`, from its networks' (input shape, rows) as `ganspec.ir.layers.walk` gives them
    (a repeat's alike copies counted through `Row.copies`)."""
    weights = activations = 0
    batch = max(spec.train.batch, spec.train.generator_batch or 0)
    for input_shape, rows in networks:
        trainable, non_trainable = L.totals(rows)
        weights += FLOAT * (SLOTS * trainable + non_trainable)
        values = _values(input_shape) + sum(_values(r.out_shape) * r.copies for r in rows
                                            if not isinstance(r.layer, L.Block))
        activations += FLOAT * BACKWARD * batch * values
    source = spec.data.source
    modes = TOY_MODES[source.kind](source) if source.kind in TOY_MODES else None
    data = MODE_BYTES * modes if modes is not None else _file_bytes(source, spec_dir)
    sample_values = _values(sample_shape)
    metrics = max((_metric_bytes(m, sample_values, modes) for m in spec.evaluate.metrics), default=0)
    return MemoryEstimate(weights, activations, data, metrics)


def _file_bytes(source, spec_dir) -> int:
    """What loading a data source's files holds at least: the array its header declares, as float32 (IDX,
    .npz), else the files' size on disk."""
    arrays = {"idx": lambda found: read_idx_header(found)[1], "npz": lambda found: read_npz_shape(found, source.key)}
    total = 0
    for name, path in source.paths().items():
        found = find_data_file(path, spec_dir)
        if found is None:
            continue
        try:
            if name in ("images", "path") and source.kind in arrays:
                total += FLOAT * math.prod(arrays[source.kind](found))
            elif found.is_file():
                total += found.stat().st_size
        except (OSError, KeyError, ValueError, EOFError, struct.error, zipfile.BadZipFile):
            continue  # unreadable: W412 says so; nothing to add
    return total


def physical_memory() -> int | None:
    """This machine's physical memory in bytes, or None where the system does not say."""
    try:
        size = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (AttributeError, ValueError, OSError):  # no sysconf (Windows), or a name this system lacks
        return None
    return size if size > 0 else None


def check_memory(ctx):
    """A run must fit in memory. Example: `dense(10**9)` after a 100-wide layer (10**11 weights, 1.5 TiB with
    their gradients and Adam's slots) -> E313; a spec that needs more than this machine's memory -> W416."""
    walks = ctx.cache.get("walks", {})
    if "generator" not in walks:
        return  # the generator's shapes are wrong: reported, and nothing to estimate from
    estimate = training_memory(ctx.spec, list(walks.values()), ctx.data_shape or ctx.cache.get("generator_out"),
                               ctx.spec_dir)
    ctx.cache["memory"] = estimate
    largest = max(("weights", "activations", "data", "metrics"), key=lambda name: getattr(estimate, name))
    notes = (f"estimate: {estimate.text()}",)
    if estimate.total > HARD_LIMIT:
        yield error("E313", f"training would need {size_text(estimate.total)} of memory, more than "
                            f"{size_text(HARD_LIMIT)}: mostly {largest}", _culprit(ctx, largest, walks),
                    _HINTS[largest], notes)
        return
    machine = physical_memory()
    if machine is not None and estimate.total > machine:
        yield warning("W416", f"training would need about {size_text(estimate.total)} of memory, more than this "
                              f"machine's {size_text(machine)}: mostly {largest}", _culprit(ctx, largest, walks),
                      _HINTS[largest], notes)


def _culprit(ctx, part: str, walks):
    """Where the largest part of the estimate comes from: the layer with the most weights, the batch, the
    data source, the metric with the largest buffer."""
    spec = ctx.spec
    if part == "weights":
        rows = [row for _, rows in walks.values() for row in rows]
        return ctx.span(max(rows, key=lambda r: (r.trainable + r.non_trainable) * r.copies).layer)
    if part == "activations":
        return ctx.span(spec.train, "batch")
    if part == "data":
        return ctx.span(spec.data.source)
    values = _values(ctx.data_shape or ctx.cache.get("generator_out"))
    return ctx.span(max(spec.evaluate.metrics, key=lambda m: _metric_bytes(m, values, None)))


_HINTS = {
    "weights": "fewer units or filters: a dense layer holds inputs x units weights",
    "activations": "a smaller batch, or smaller layers",
    "data": "fewer modes, or a smaller data set",
    "metrics": "fewer samples for the metric",
}
