"""Where one run trains: its device layout, a run option (`ganspec run --devices N --strategy S`,
`fit(..., devices=, strategy=)`), never a spec field. The spec's `train.batch` is always the global
batch; the layout only says over how many replicas it is split, so the same spec trains on a laptop
and on eight accelerators, and a run saved on one layout resumes on another.

Strategies (`STRATEGIES`):
- `none`: today's single-device step.
- `mirrored`: TensorFlow's `tf.distribute.MirroredStrategy` over `devices` local devices (GPUs, else
  logical CPU devices).
- `multi_worker`: TensorFlow's `tf.distribute.MultiWorkerMirroredStrategy`, one process per host, the
  cluster from `TF_CONFIG` (https://www.tensorflow.org/guide/distributed_training#TF_CONFIG).
- `data_parallel`: JAX, `keras.distribution.DataParallel` over a device mesh; several processes
  through `jax.distributed.initialize`, configured by JAX's own variables (`JAX_COORDINATOR_ADDRESS`,
  `JAX_NUM_PROCESSES`, `JAX_PROCESS_ID`).
`auto` (the default) picks `none` for one device in one process, else the backend's strategy.

This module is light (no TensorFlow or JAX import): the command line resolves and checks a layout
before any backend is imported. The step modules turn it into a strategy or a mesh
(`tf_step.compile_training`, `jax_step.compile_training`).
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass

STRATEGIES = ("auto", "none", "mirrored", "multi_worker", "data_parallel")
BACKEND_STRATEGIES = {"tensorflow": ("none", "mirrored", "multi_worker"), "jax": ("none", "data_parallel")}


class LayoutError(ValueError):
    """A layout that cannot work: the message says why, the hint what to do."""

    def __init__(self, message: str, hint: str | None = None):
        super().__init__(message)
        self.message, self.hint = message, hint


@dataclass(frozen=True)
class Layout:
    """A resolved layout: `strategy` (never `auto`), `devices` replicas in each of `workers` processes,
    this process being number `worker` (0 is the chief, which alone writes checkpoints and files)."""

    strategy: str = "none"
    devices: int = 1
    workers: int = 1
    worker: int = 0

    @property
    def replicas(self) -> int:
        return self.devices * self.workers

    @property
    def distributed(self) -> bool:
        return self.strategy != "none"

    @property
    def is_chief(self) -> bool:
        return self.worker == 0

    def to_json(self) -> dict:
        return {**asdict(self), "replicas": self.replicas}

    def describe(self) -> str:
        if not self.distributed:
            return "one device"
        hosts = f" x {self.workers} processes" if self.workers > 1 else ""
        return f"{self.strategy}: {self.devices} device{'s' * (self.devices != 1)}{hosts} = {self.replicas} replicas"

    def per_replica_batch(self, batch: int, what: str = "train.batch") -> int:
        """The slice of a global batch one replica trains on; LayoutError when it does not divide."""
        if batch % self.replicas:
            fits = [n for n in range(1, batch + 1) if batch % n == 0 and n <= max(self.replicas * 2, 8)]
            raise LayoutError(
                f"{what} = {batch} does not divide over {self.replicas} replicas ({self.describe()})",
                f"the batch is global: make it a multiple of {self.replicas}, or train on "
                f"{' or '.join(str(n) for n in fits[-3:])} replicas")
        return batch // self.replicas


NONE = Layout()


def resolve(backend: str, strategy: str = "auto", devices: int | str | None = None, env=None) -> Layout:
    """The layout a run asks for on `backend`: `--strategy`, `--devices` (a count, or `all` for every
    accelerator the backend sees, which this light module cannot count: the step modules resolve it,
    see `count_devices`) and the environment (`TF_CONFIG`, `JAX_NUM_PROCESSES`/`JAX_PROCESS_ID`)."""
    env = os.environ if env is None else env
    if strategy not in STRATEGIES:
        raise LayoutError(f"unknown strategy {strategy!r}", f"choose one of: {', '.join(STRATEGIES)}")
    if strategy != "auto" and strategy not in BACKEND_STRATEGIES[backend]:
        others = [b for b, names in BACKEND_STRATEGIES.items() if strategy in names]
        raise LayoutError(
            f"--strategy {strategy} is not a {backend} strategy",
            f"on {backend} use --strategy {' or '.join(BACKEND_STRATEGIES[backend][1:])}"
            + (f"; {strategy} needs --backend {others[0]}" if others else ""))
    count = _device_count(devices)
    workers, worker = _processes(backend, env)
    if strategy == "auto":
        if workers > 1:
            strategy = "multi_worker" if backend == "tensorflow" else "data_parallel"
        elif count is None or count > 1:
            strategy = "mirrored" if backend == "tensorflow" else "data_parallel"
        else:
            strategy = "none"
    if strategy == "none":
        if workers > 1:
            raise LayoutError(f"--strategy none cannot train in {workers} processes",
                              "drop --strategy (or unset TF_CONFIG / JAX_NUM_PROCESSES)")
        if count not in (None, 1):
            raise LayoutError(f"--strategy none trains on one device, not {count}",
                              "drop --strategy, or use --devices 1")
        return NONE
    if strategy == "mirrored" and workers > 1:
        raise LayoutError("--strategy mirrored is for one process; TF_CONFIG names several workers",
                          "use --strategy multi_worker (or unset TF_CONFIG)")
    return Layout(strategy=strategy, devices=count or 0, workers=workers, worker=worker)


def with_device_count(layout: Layout, available: int) -> Layout:
    """`layout` with `devices` filled in (0 means all `available`) and checked against them."""
    if layout.devices == 0:
        return Layout(layout.strategy, max(available, 1), layout.workers, layout.worker)
    if layout.devices > available:
        raise LayoutError(f"--devices {layout.devices}: this process sees {available} device"
                          f"{'s' * (available != 1)}", "ask for fewer devices")
    return layout


def host_device_flags(count: int, flags: str | None = None) -> str:
    """`XLA_FLAGS=...` that makes JAX show the CPU as `count` devices (read when JAX is first imported):
    `flags` (default: $XLA_FLAGS) with its host-device count replaced."""
    flags = os.environ.get("XLA_FLAGS", "") if flags is None else flags
    kept = [f for f in flags.split() if not f.startswith("--xla_force_host_platform_device_count")]
    return "XLA_FLAGS=" + " ".join(kept + [f"--xla_force_host_platform_device_count={count}"])


def _device_count(devices) -> int | None:
    if devices in (None, "all"):
        return None if devices == "all" else 1
    try:
        count = int(devices)
    except (TypeError, ValueError):
        raise LayoutError(f"--devices {devices!r} is not a number", "give a count, e.g. --devices 2, or all") from None
    if count < 1:
        raise LayoutError(f"--devices {count}: at least one device is needed")
    return count


def _processes(backend: str, env) -> tuple[int, int]:
    """(processes, this one's index) from the environment the engines read themselves."""
    if backend == "tensorflow":
        text = env.get("TF_CONFIG")
        if not text:
            return 1, 0
        try:
            config = json.loads(text)
            workers = list(config.get("cluster", {}).get("worker", []))
            task = config.get("task", {})
            index = int(task.get("index", 0))
        except (ValueError, TypeError, AttributeError) as exc:
            raise LayoutError(f"TF_CONFIG is not valid: {exc}",
                              'it is JSON like {"cluster": {"worker": ["host:port", ...]}, '
                              '"task": {"type": "worker", "index": 0}}') from None
        if task.get("type", "worker") not in ("worker", "chief"):
            raise LayoutError(f"TF_CONFIG task type {task.get('type')!r}: only workers train here")
        if workers and not 0 <= index < len(workers):
            raise LayoutError(f"TF_CONFIG task index {index} is outside its {len(workers)} workers")
        return max(len(workers), 1), index
    count, index = env.get("JAX_NUM_PROCESSES"), env.get("JAX_PROCESS_ID")
    if not count:
        return 1, 0
    try:
        count, index = int(count), int(index or 0)
    except ValueError:
        raise LayoutError("JAX_NUM_PROCESSES and JAX_PROCESS_ID must be integers") from None
    if not 0 <= index < count:
        raise LayoutError(f"JAX_PROCESS_ID {index} is outside its {count} processes")
    return count, index
