"""Worker processes that tests start together and wait for, left running by no exit path.

Each worker's output goes to a file of its own, not a pipe: a pipe that nobody reads while another worker
is waited for fills up and stalls its writer (and, in a cluster, the workers waiting for that one). The
wait is not a speed limit: its timeout is a safety net against a hung worker, hours long. However the
block is left (a failure, the timeout, Ctrl-C), every worker still running is killed and reaped."""

from __future__ import annotations

import subprocess
import tempfile
import time

SAFETY_NET_S = 3 * 3600  # a hung worker is stopped eventually; no machine is that slow


class Workers:
    """`with Workers() as workers: workers.start(name, argv, ...); outputs = workers.wait()`."""

    def __init__(self):
        self.running: dict[str, tuple[subprocess.Popen, object]] = {}

    def __enter__(self) -> "Workers":
        return self

    def start(self, name: str, argv: list[str], **popen) -> subprocess.Popen:
        """Start `argv` (Popen's keywords: env, cwd), its standard output and error into one file."""
        output = tempfile.TemporaryFile("w+", encoding="utf-8", errors="replace")
        try:
            process = subprocess.Popen(argv, stdout=output, stderr=subprocess.STDOUT, text=True, **popen)
        except BaseException:
            output.close()
            raise
        self.running[name] = (process, output)
        return process

    def wait(self, timeout: float = SAFETY_NET_S) -> dict[str, tuple[int, str]]:
        """{name: (exit status, output)} once every worker has ended; TimeoutExpired after `timeout` seconds
        in all (and the workers are killed when the block is left)."""
        deadline = time.monotonic() + timeout
        for process, _ in self.running.values():
            process.wait(timeout=max(0.0, deadline - time.monotonic()))
        results = {}
        for name, (process, output) in self.running.items():
            output.seek(0)
            results[name] = (process.returncode, output.read())
        return results

    def __exit__(self, *exc) -> None:
        for process, output in self.running.values():
            try:
                if process.poll() is None:
                    process.kill()
                process.wait()
            finally:
                output.close()
