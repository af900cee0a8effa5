"""Where a sweep's points train: processes on this machine, or tasks on a Ray cluster.

Every point trains in a process of its own, started for it and ended after it: a GAN run never shares a
TensorFlow or JAX runtime (its graphs, memory, random state) with another. The work is handed out by
existing engines, not by a scheduler of ours:

- `local`: `concurrent.futures`. A thread per job slot hands each point to a `ProcessPoolExecutor` of one
  spawned process (`mp_context` "spawn"), so a crash or an out-of-memory kill fails that point only. A slot
  is sized to the machine: with GPUs visible (`CUDA_VISIBLE_DEVICES`, else `nvidia-smi -L`), one slot per
  GPU, each run seeing its GPU alone; without, `--threads-per-run` cores per slot (default 1) and as many
  slots as the usable cores (`os.sched_getaffinity`) allow, each run's process pinned to its cores and
  its thread pools (TensorFlow intra/inter-op, OpenMP, XLA's Eigen) sized to them, so that N runs side
  by side do not oversubscribe the machine. Small GANs gain little from more threads in one run and
  a lot from more runs side by side; ask for more threads (or fewer jobs) for image GANs on a CPU.
  SIGTERM stops a run as Ctrl-C does (a checkpoint saved), and a run's process never outlives the sweep's:
  when that one is killed, the run saves a checkpoint and its process exits.
- `ray`: one `ray.remote` task per point (`max_calls=1`: a fresh worker process each, `max_retries=0`),
  asking for `--threads-per-run` CPUs and `--gpus-per-run` GPUs (default: one when the cluster has
  GPUs). It connects to `--ray-address` (or $RAY_ADDRESS; `auto` finds a cluster started with `ray start`
  on this machine), else starts a local instance. The sweep directory, the spec's data and ganspec itself
  must be at the same paths on every node (a shared file system), as the tasks read and write the run
  directories in place.
"""

from __future__ import annotations

import dataclasses
import multiprocessing
import os
import signal
import threading
import time
import traceback
from typing import Callable

from ganspec.diagnostics import SpecError, error
from ganspec.run.display import Display, _num

THREAD_VARIABLES = ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS", "TF_NUM_INTRAOP_THREADS",
                    "TF_NUM_INTEROP_THREADS")
DISPLAYS = ("all", "evaluations", "none")  # what a run prints: every logged iteration, evaluations, nothing


# ---- one point, in its own process ---------------------------------------------------------


def train_point(task: dict) -> dict:
    """Train one point's run directory (made by the sweep) to its spec's iterations: from its latest
    checkpoint, or from the start. Runs in the process made for it; returns how it ended, never raises."""
    started = time.perf_counter()
    limit_threads(task["threads"])
    result = {"name": task["name"], "status": "failed", "exit_code": None, "iteration": None, "message": ""}
    try:
        from ganspec.api import STATUS, open_run
        from ganspec.backend import activate_for_spec
        from ganspec.run.rundir import RunDir

        run = open_run(task["run_dir"])
        stored = run.spec
        spec = activate_for_spec(stored, task.get("backend"))[0]
        if spec.train.backend != stored.train.backend:  # resolved.json says the backend it trained on
            RunDir(run.path).write_json("resolved.json", spec.model_dump(mode="json"))
        run.resume(display=PointDisplay(task["name"], task.get("display", "evaluations")), backend=task.get("backend"))
        outcome = run.outcome
        result.update(status=STATUS.get(outcome.code, "failed"), exit_code=outcome.code,
                      iteration=outcome.iteration, message=outcome.message)
    except SpecError as exc:  # InvalidSpec too: data that cannot be read, a backend that is missing
        result["message"] = "; ".join(f"{d.code} {d.message}" + (f" (hint: {d.hint})" if d.hint else "")
                                      for d in exc.diagnostics)
    except KeyboardInterrupt:
        result.update(status="interrupted", message="interrupted before training started")
    except Exception as exc:  # a bug: the point fails, the sweep goes on
        result["message"] = f"internal error: {type(exc).__name__}: {exc}"
        result["traceback"] = traceback.format_exc()
    result["seconds"] = round(time.perf_counter() - started, 1)
    return result


def limit_threads(threads: int) -> None:
    """Size this process's thread pools to `threads` cores; before TensorFlow or JAX is imported."""
    for name in THREAD_VARIABLES:
        os.environ[name] = str(threads)
    flags = os.environ.get("XLA_FLAGS", "")
    if threads == 1 and "xla_cpu_multi_thread_eigen" not in flags:
        os.environ["XLA_FLAGS"] = f"{flags} --xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads=1".strip()


class PointDisplay(Display):
    """A run's progress as plain lines prefixed with its point's name (runs side by side share a terminal)."""

    def __init__(self, name: str, level: str = "evaluations"):
        self.name, self.level, self.total = name, level, 0

    def _say(self, text: str) -> None:
        if self.level != "none":
            print(f"[{self.name}] {text}", flush=True)

    def start(self, title, total, done, run_dir):
        self.total = total
        self._say(f"training {total} iterations" + (f" from iteration {done}" if done else ""))

    def log(self, iteration, scalars, rate):
        if self.level == "all":
            self._say(f"{iteration}/{self.total} {rate:.1f} it/s " +
                      " ".join(f"{k}={_num(v)}" for k, v in scalars.items()))

    def evaluation(self, iteration, results):
        self._say(f"{iteration}/{self.total} eval " + " ".join(f"{k}={_num(v)}" for k, v in results.items()))

    def alert(self, alert):
        self._say(f"{alert.severity.upper()} {alert.code}: {alert.message}")

    def message(self, text):
        self._say(text)


def failed(task: dict, message: str, status: str = "failed") -> dict:
    return {"name": task["name"], "status": status, "exit_code": None, "iteration": None, "message": message,
            "seconds": None}


# ---- the machine ---------------------------------------------------------------------------


def usable_cores() -> list[int]:
    """The cores this process may run on."""
    if hasattr(os, "sched_getaffinity"):
        return sorted(os.sched_getaffinity(0))
    return list(range(os.cpu_count() or 1))


def visible_gpus() -> list[str]:
    """The NVIDIA GPUs runs can use: $CUDA_VISIBLE_DEVICES when set, else those `nvidia-smi -L` lists."""
    import shutil
    import subprocess

    given = os.environ.get("CUDA_VISIBLE_DEVICES")
    if given is not None:
        ids = [d.strip() for d in given.split(",") if d.strip()]
        return [] if not ids or ids[0] == "-1" else ids
    smi = shutil.which("nvidia-smi")
    if smi is None:
        return []
    try:
        listed = subprocess.run([smi, "-L"], capture_output=True, text=True, timeout=30, check=False).stdout
    except (OSError, subprocess.SubprocessError):
        return []
    return [str(i) for i, _ in enumerate(line for line in listed.splitlines() if line.startswith("GPU "))]


@dataclasses.dataclass(frozen=True)
class Slot:
    """Where one local run at a time trains: its cores (None: not pinned), its GPU, its threads."""

    threads: int
    cpus: tuple[int, ...] | None = None
    gpu: str | None = None


def local_slots(jobs: int | None, threads: int | None, cores: list[int], gpus: list[str]) -> list[Slot]:
    """The job slots of the local executor (see the module's docstring)."""
    if jobs is None and gpus:
        jobs = len(gpus)
    if threads is None:
        threads = max(1, len(cores) // jobs) if gpus and jobs else 1
    if jobs is None:
        jobs = max(1, len(cores) // threads)
    pinned = hasattr(os, "sched_setaffinity") and jobs * threads <= len(cores)
    return [Slot(threads, tuple(cores[i * threads:(i + 1) * threads]) if pinned else None,
                 gpus[i % len(gpus)] if gpus else None) for i in range(jobs)]


def _enter_slot(slot: Slot) -> None:
    """A local run's process, before it imports anything heavy: its cores, its GPU, its thread pools; SIGTERM
    made Ctrl-C's equal (in training the run saves a checkpoint and stops, as for either; before it, the point
    ends "interrupted" instead of the process dying without a word); and a watch on the sweep's process."""
    if slot.cpus is not None:
        os.sched_setaffinity(0, slot.cpus)
    if slot.gpu is not None:
        os.environ["CUDA_VISIBLE_DEVICES"] = slot.gpu
    limit_threads(slot.threads)
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    parent = multiprocessing.parent_process()
    if parent is not None:
        threading.Thread(target=_end_with_parent, args=(parent.sentinel,), name="ganspec-sweep-parent",
                         daemon=True).start()


# A local run's process serves one point and ends when the sweep's process shuts its pool down. When the sweep's
# process dies instead (killed, its terminal closed), nothing would: the pool's worker waits for its next task on
# a queue whose write end it holds itself, forever. `_end_with_parent` ends it: a point in progress is stopped as
# SIGTERM stops it (a checkpoint saved: `ganspec sweep` again resumes it), then the process exits.
_point_lock = threading.Lock()
_point_running = False
_point_ended = threading.Event()


def _train_in_slot(task: dict) -> dict:
    """`train_point` in a local slot's process, known to the watch on the sweep's process."""
    global _point_running
    with _point_lock:
        _point_running = True
        _point_ended.clear()
    try:
        return train_point(task)
    finally:
        try:
            with _point_lock:
                _point_running = False
        finally:  # set even when the watch's SIGTERM lands here
            _point_ended.set()


def _end_with_parent(sentinel) -> None:
    from multiprocessing.connection import wait

    wait([sentinel])
    with _point_lock:
        stopping = _point_running
        if stopping:
            os.kill(os.getpid(), signal.SIGTERM)
    if stopping:
        _point_ended.wait()
    os._exit(0)


# ---- executors -----------------------------------------------------------------------------

Done = Callable[[dict], None]


class LocalExecutor:
    """Processes on this machine, as many at a time as there are slots."""

    name = "local"

    def __init__(self, jobs: int | None = None, threads: int | None = None):
        self.slots = local_slots(jobs, threads, usable_cores(), visible_gpus())

    @property
    def threads(self) -> int:
        return self.slots[0].threads

    def describe(self) -> dict:
        gpus = [s.gpu for s in self.slots if s.gpu is not None]
        return {"executor": "local", "jobs": len(self.slots), "threads_per_run": self.threads,
                **({"gpus": sorted(set(gpus))} if gpus else {})}

    def summary(self) -> str:
        where = f", one GPU each ({', '.join(sorted({s.gpu for s in self.slots}))})" if self.slots[0].gpu else ""
        return f"local: {len(self.slots)} run(s) at a time, {self.threads} thread(s) each{where}"

    def run(self, tasks: list[dict], done: Done) -> None:
        """Train every task, calling `done(result)` in this thread as each ends. On Ctrl-C (which the runs
        get too: they save a checkpoint and stop) waits for the runs in progress, then raises it."""
        import queue
        from concurrent.futures import ThreadPoolExecutor, as_completed

        free: queue.Queue = queue.Queue()
        for slot in self.slots:
            free.put(slot)
        reported = set()
        with ThreadPoolExecutor(max_workers=min(len(self.slots), len(tasks)) or 1,
                                thread_name_prefix="ganspec-sweep") as threads:
            futures = [threads.submit(self._one, task, free) for task in tasks]
            try:
                for future in as_completed(futures):
                    reported.add(future)
                    done(future.result())
            except KeyboardInterrupt:
                for future in futures:
                    future.cancel()
                for future in futures:  # the runs in progress are saving their checkpoints
                    if future not in reported and not future.cancelled():
                        done(future.result())
                raise

    def _one(self, task: dict, free) -> dict:
        from concurrent.futures import ProcessPoolExecutor
        from concurrent.futures.process import BrokenProcessPool

        slot = free.get()
        try:
            with ProcessPoolExecutor(max_workers=1, mp_context=multiprocessing.get_context("spawn"),
                                     initializer=_enter_slot, initargs=(slot,)) as process:
                return process.submit(_train_in_slot, task).result()
        except BrokenProcessPool:
            return failed(task, "its process ended without a result (killed, out of memory, or crashed)")
        except BaseException as exc:  # KeyboardInterrupt while it started
            return failed(task, f"{type(exc).__name__}: {exc}", "interrupted" if isinstance(exc, KeyboardInterrupt)
                          else "failed")
        finally:
            free.put(slot)


class RayExecutor:
    """One Ray task per point, on a cluster (--ray-address, $RAY_ADDRESS) or a local instance."""

    name = "ray"

    def __init__(self, address: str | None = None, threads: int | None = None, gpus: float | None = None,
                 jobs: int | None = None):
        from ganspec.backend import require

        require("sweep", "the Ray executor (--executor ray)")  # E507 naming the extra
        self.address = address or os.environ.get("RAY_ADDRESS") or None
        self.threads = threads or 1
        self.gpus = gpus
        self.jobs = jobs  # the CPUs of a local instance: jobs x threads (default: the machine's)

    def describe(self) -> dict:
        return {"executor": "ray", "address": self.address or "local instance", "threads_per_run": self.threads,
                **({"gpus_per_run": self.gpus} if self.gpus is not None else {})}

    def summary(self) -> str:
        where = f"the cluster at {self.address}" if self.address else "a local instance"
        return f"ray: {where}, {self.threads} CPU(s) per run"

    def run(self, tasks: list[dict], done: Done) -> None:
        os.environ.setdefault("RAY_DEDUP_LOGS", "0")  # runs' lines look alike: Ray would fold them into one
        import ray

        own = not ray.is_initialized()
        if own:
            options = {"include_dashboard": False, "logging_level": "warning"}
            if self.address is None and self.jobs is not None:
                options["num_cpus"] = self.jobs * self.threads
            ray.init(address=self.address, **options)
        pending = {}
        try:
            gpus = self.gpus if self.gpus is not None else (1 if ray.cluster_resources().get("GPU", 0) else 0)
            remote = ray.remote(num_cpus=self.threads, num_gpus=gpus, max_calls=1, max_retries=0)(train_point)
            pending = {remote.remote(task): task for task in tasks}
            while pending:
                (ready,), _ = ray.wait(list(pending), num_returns=1)
                task = pending.pop(ready)
                try:
                    result = ray.get(ready)
                except Exception as exc:  # the worker died, or Ray could not run it
                    result = failed(task, f"Ray: {type(exc).__name__}: {str(exc).strip().splitlines()[-1]}")
                done(result)
        except KeyboardInterrupt:
            for ref in pending:  # a running task gets KeyboardInterrupt: it saves a checkpoint and stops
                ray.cancel(ref)
            for ref, task in pending.items():
                try:
                    done(ray.get(ref, timeout=120))
                except Exception:
                    done(failed(task, "interrupted", "interrupted"))
            raise
        finally:
            if own:
                ray.shutdown()


EXECUTORS = {"local": LocalExecutor, "ray": RayExecutor}


def make_executor(name: str, jobs: int | None = None, threads: int | None = None, gpus: float | None = None,
                  address: str | None = None):
    """The executor called `name`; SpecError (E500, E507) for options it cannot take or a missing library."""
    bad = [f"{flag} must be at least {least}" for flag, value, least in
           (("--jobs", jobs, 1), ("--threads-per-run", threads, 1), ("--gpus-per-run", gpus, 0))
           if value is not None and value < least]
    if bad:
        raise SpecError([error("E500", message) for message in bad])
    if name == "local":
        if address is not None or gpus is not None:
            raise SpecError(error("E500", "--ray-address and --gpus-per-run are for --executor ray",
                                  hint="the local executor gives each run one of the visible GPUs"))
        return LocalExecutor(jobs, threads)
    if name == "ray":
        return RayExecutor(address, threads, gpus, jobs)
    raise SpecError(error("E500", f"unknown executor {name!r}", hint=f"one of: {', '.join(EXECUTORS)}"))
