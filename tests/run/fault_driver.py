"""`ganspec ARGV...` in this process with a fault planted, for tests/run/test_fault_injection.py:

    python tests/run/fault_driver.py STOP_AT CUT -- ARGV...

STOP_AT: the iteration at which the run gets SIGINT (Ctrl-C), before it trains the next one.
CUT: where SIGKILL cuts the interrupt save that follows:
  files  its weight and variable files are written into the temporary folder, its manifest and
         state.json not yet
  swap   the checkpoint of the same iteration (a run re-saving where it resumed) has been renamed
         aside, the new one not yet renamed in
  none   nowhere: the save completes and the run exits 130

The faults land at a point of the program, not at a moment: SIGINT is raised from the training loop
itself, SIGKILL from inside the save. Nothing of ganspec is changed but the names patched here."""

from __future__ import annotations

import os
import signal
import sys
from pathlib import Path

from ganspec.cli import main
from ganspec.run import checkpoint, rundir, trainer

CUTS = ("files", "swap", "none")


def die(where: str) -> None:
    print(f"fault_driver: SIGKILL {where}", flush=True)
    os.kill(os.getpid(), signal.SIGKILL)


def plant(stop_at: int, cut: str) -> None:
    """Patch the trainer and the checkpoint writer: SIGINT at iteration `stop_at`, SIGKILL at `cut`."""
    state = {"trainer": None, "stopped": False}
    prepare, check = trainer.Trainer.prepare, trainer.StopSignals.check

    def remembering_prepare(self, *args, **kwargs):
        state["trainer"] = self
        return prepare(self, *args, **kwargs)

    def check_with_ctrl_c(self):
        if not state["stopped"] and state["trainer"].iteration == stop_at:
            state["stopped"] = True
            print(f"fault_driver: SIGINT at iteration {stop_at}", flush=True)
            signal.raise_signal(signal.SIGINT)  # to this thread: its handler has run when this returns
        return check(self)

    trainer.Trainer.prepare = remembering_prepare
    trainer.StopSignals.check = check_with_ctrl_c

    if cut == "files":  # checkpoint.save digests its files once they are all written, for the manifest
        digest = checkpoint.file_digest

        def digest_then_die(path):
            if state["stopped"]:
                die(f"in the interrupt save, with {sorted(p.name for p in Path(path).parent.iterdir())} written")
            return digest(path)

        checkpoint.file_digest = digest_then_die
    elif cut == "swap":  # RunDir.commit_checkpoint renames with os.replace: the old one aside, the new one in
        real_os = rundir.os

        class OsWithACut:
            def __getattr__(self, name):
                return getattr(real_os, name)

            def replace(self, source, target):
                real_os.replace(source, target)
                if state["stopped"] and Path(target).name.startswith(rundir.ASIDE):
                    die(f"in the interrupt save, with {Path(source).name} renamed aside to {Path(target).name}")

        rundir.os = OsWithACut()


if __name__ == "__main__":
    stop, cut, separator, *argv = sys.argv[1:]
    assert cut in CUTS and separator == "--", sys.argv
    plant(int(stop), cut)
    sys.exit(main(argv))
