"""The `ganspec` command: the argument parser and `main`. The commands live in `ganspec.commands`;
heavy libraries (TensorFlow, JAX) are imported only by the commands that train, so validate,
diff, fmt, explain and schema never import them."""

from __future__ import annotations

import argparse
import os
import sys

from ganspec import __version__, exitcodes
from ganspec.backend import BACKENDS
from ganspec.train.layout import STRATEGIES

# `ganspec export --format`: the writers of ganspec.run.export.FORMATS (a test keeps the two equal; that
# module is not imported to build the parser).
EXPORT_FORMATS = ("keras", "savedmodel", "onnx")


def build_parser() -> argparse.ArgumentParser:
    """The parser of every `ganspec` subcommand; each sets `func`, the command to call."""
    parser = argparse.ArgumentParser(prog="ganspec", description="Declarative GAN experiments.")
    parser.add_argument("--version", action="version", version=f"ganspec {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    _add_language_commands(sub)
    _add_training_commands(sub)
    _add_export_command(sub)
    _add_data_commands(sub)
    _add_tooling_commands(sub)
    for command in sub.choices.values():
        command.add_argument("--plugin", action="append", default=[], metavar="MODULE",
                             help="load a plugin: a module name or a .py file (repeatable; also "
                                  "$GANSPEC_PLUGINS and installed `ganspec.plugins` entry points)")
    return parser


def _add_exclude(parser) -> None:
    parser.add_argument("--exclude", action="append", default=[], metavar="GLOB",
                        help="skip matching files or folders in folder walks (which already skip hidden folders, "
                             "run directories and what git ignores); repeatable")
    parser.add_argument("--no-ignore", action="store_true",
                        help="folder walks also take files that git ignores (.gitignore and the excludes files)")


def _add_language_commands(sub) -> None:
    p = sub.add_parser("validate", help="check .gan specs (files or folders)")
    p.add_argument("paths", nargs="+", metavar="PATH")
    p.add_argument("--format", choices=("human", "json", "github"), default="human")
    p.add_argument("--strict", action="store_true", help="treat warnings as errors (exit 1)")
    p.add_argument("-q", "--quiet", action="store_true", help="no summary line")
    _add_exclude(p)
    p.set_defaults(func="language:cmd_validate")

    p = sub.add_parser("diff", help="hyperparameters that differ between two resolved specs")
    p.add_argument("a")
    p.add_argument("b")
    p.add_argument("--format", choices=("human", "json"), default="human")
    p.add_argument("--metadata", action="store_true", help="also compare description and tags")
    p.set_defaults(func="language:cmd_diff")

    p = sub.add_parser("fmt", help="format .gan files in place (or check that they are formatted)")
    p.add_argument("paths", nargs="+", metavar="PATH", help="files, folders, or - for stdin")
    p.add_argument("--check", action="store_true", help="change nothing; exit 1 if a file would change")
    p.add_argument("--diff", action="store_true", help="change nothing; print what would change as a unified "
                                                       "diff (exit 1 if a file would change)")
    _add_exclude(p)
    p.set_defaults(func="language:cmd_fmt")

    p = sub.add_parser("explain", help="the resolved spec and per-layer shapes and parameter counts")
    p.add_argument("spec")
    p.add_argument("--format", choices=("human", "json"), default="human")
    p.add_argument("--set", action="append", metavar="PATH=VALUE", help="override a value")
    p.set_defaults(func="language:cmd_explain")

    p = sub.add_parser("schema", help="JSON Schema of a resolved spec")
    p.set_defaults(func="language:cmd_schema")


def _add_training_commands(sub) -> None:
    p = sub.add_parser("run", help="train a spec (or resume a run directory)")
    p.add_argument("spec", nargs="?", help="the .gan file (optional with --resume)")
    p.add_argument("--set", action="append", metavar="PATH=VALUE", help="override a value, e.g. train.batch=32")
    p.add_argument("--out", metavar="DIR", help="parent folder of the run directory (default ./runs)")
    p.add_argument("--iterations", type=int, metavar="N", help="generator iterations (overrides the spec)")
    p.add_argument("--resume", metavar="RUN_DIR", help="continue a run from its latest checkpoint")
    p.add_argument("--force", action="store_true", help="resume even though the spec changed")
    p.add_argument("--plain", action="store_true", help="plain log lines instead of the live display")
    p.add_argument("--track", action="append", default=[], metavar="TRACKER[=TARGET]",
                   help="also log to mlflow[=TRACKING_URI] or wandb[=PROJECT] (repeatable; also $GANSPEC_TRACK, "
                        "comma-separated; needs the `tracking` extra)")
    p.add_argument("--devices", metavar="N", help="train data-parallel on N devices of this machine (or `all`): "
                                                  "GPUs, else CPU devices; train.batch stays the global batch")
    p.add_argument("--strategy", choices=STRATEGIES, default="auto",
                   help="how to spread a run: mirrored or multi_worker (TensorFlow; TF_CONFIG names the "
                        "workers), data_parallel (JAX; JAX_NUM_PROCESSES for several processes), none; "
                        "default auto: one device unless --devices, TF_CONFIG or JAX_NUM_PROCESSES say more")
    _backend_argument(p)
    p.set_defaults(func="training:cmd_run")

    p = sub.add_parser("sample", help="write a picture of samples from a run's generator: a grid, one row "
                                      "per class, latent interpolations, or 2-D points over the data")
    p.add_argument("run_dir")
    p.add_argument("-n", type=int, default=64, help="number of samples in the plain grid (default 64)")
    p.add_argument("-o", "--output", default="samples.png",
                   help="picture to write; the format follows the extension: .png, .jpg or .jpeg")
    p.add_argument("--seed", type=int, default=0, help="latent seed: the same seed draws the same picture")
    p.add_argument("--per-class", type=int, metavar="K",
                   help="conditional runs: one row per class, K samples each, the same latent points in every row")
    p.add_argument("--class", dest="classes", type=int, action="append", metavar="C",
                   help="only class C (repeatable); rows of --per-class (8 each by default) or of --interpolate")
    p.add_argument("--interpolate", type=int, metavar="STEPS",
                   help="rows of STEPS latent points between pairs of random points: spherical (slerp, White 2016) "
                        "for normal priors, linear for uniform and mixture ones, categorical codes and the class "
                        "held fixed along a row")
    p.add_argument("--rows", type=int, default=8, metavar="N", help="interpolation rows (default 8)")
    p.add_argument("--columns", type=int, metavar="N", help="columns of the plain grid (default about square)")
    p.add_argument("--scale", type=int, metavar="S", help="integer nearest-neighbour upscale of each image "
                                                          "(default: enough for tiles of at least 64 pixels)")
    p.add_argument("--padding", type=int, default=2, metavar="PX", help="white pixels between images (default 2)")
    p.add_argument("--no-labels", action="store_true", help="no class numbers at the left of the rows")
    p.add_argument("--no-data", action="store_true", help="2-D points: draw the samples without the real data")
    p.add_argument("--no-ema", action="store_true", help="use the raw generator even if an EMA one exists")
    _truncation_argument(p)
    _backend_argument(p)
    p.set_defaults(func="training:cmd_sample")

    p = sub.add_parser("eval", help="evaluate a run's generator (latest checkpoint, or --checkpoint)")
    p.add_argument("run_dir")
    p.add_argument("--metric", action="append", metavar="METRIC", help="e.g. fid or 'kid(samples: 2000)'")
    p.add_argument("--samples", type=int, metavar="N", help="samples per metric (overrides the spec)")
    p.add_argument("--checkpoint", metavar="NAME", help="a checkpoint folder name, e.g. ckpt-00001000")
    p.add_argument("--no-ema", action="store_true", help="use the raw generator even if an EMA one exists")
    p.add_argument("--format", choices=("human", "json"), default="human")
    _truncation_argument(p)
    _backend_argument(p)
    p.set_defaults(func="training:cmd_eval")

    p = sub.add_parser("compare", help="runs side by side: scores, spec differences, metric curves")
    p.add_argument("run_dirs", nargs="+", metavar="RUN_DIR", help="run directories, or sweep directories (all "
                                                                  "their runs)")
    p.add_argument("--plot", metavar="PNG", help="also draw the metric curves into this PNG (needs the plots extra)")
    p.add_argument("--format", choices=("human", "json"), default="human")
    p.set_defaults(func="training:cmd_compare")

    p = sub.add_parser("sweep", help="train specs over seeds and a grid of --set values; a table of the results",
                       description="One run directory per point (specs x --set values x seeds) under one sweep "
                                   "directory, then the mean, standard error, min and max over seeds of each "
                                   "metric's last evaluation, in the terminal, results.json and results.md. "
                                   "Running the same command again continues the sweep: finished points are "
                                   "skipped, interrupted ones resume from their checkpoint. See docs/sweeps.md.")
    p.add_argument("targets", nargs="+", metavar="SPEC",
                   help=".gan specs, a .toml sweep file, or a sweep directory (to continue it, or with --table)")
    p.add_argument("--seeds", metavar="SEEDS", help="0:10 (0 to 9), 0:10:2, or 0,3,7 (default: the spec's seed)")
    p.add_argument("--set", action="append", metavar="PATH=VALUES",
                   help="a value on every point (train.batch=64), or an axis of the grid (optimizer.critic.lr="
                        "1e-4,2e-4; commas in brackets or quotes do not split); several axes multiply")
    p.add_argument("--iterations", type=int, metavar="N", help="generator iterations of every point")
    p.add_argument("--out", metavar="SWEEP_DIR", help="the sweep directory (default sweeps/SPEC_NAME)")
    p.add_argument("--executor", choices=("local", "ray"), default="local",
                   help="local processes (default) or Ray tasks (the `sweep` extra)")
    p.add_argument("--jobs", type=int, metavar="N", help="runs at a time (local; default: one per GPU, else the "
                                                         "cores / --threads-per-run); CPUs of a local Ray instance")
    p.add_argument("--threads-per-run", type=int, metavar="N", help="cores (threads) of each run (default 1; "
                                                                    "with GPUs, the cores shared out)")
    p.add_argument("--gpus-per-run", type=float, metavar="G",
                   help="Ray: GPUs each run asks for (default 1 when the cluster has GPUs, else 0)")
    p.add_argument("--ray-address", metavar="ADDRESS",
                   help="Ray: the cluster to join (or $RAY_ADDRESS; `auto`: one started here with `ray start`); "
                        "default a local instance")
    p.add_argument("--table", action="store_true", help="show the table of a sweep directory, training nothing")
    p.add_argument("--dry-run", action="store_true", help="list the points and what would be done, training nothing")
    p.add_argument("--score", choices=("last", "best"), default="last",
                   help="the table's value of a run: its last evaluation (default) or its best")
    p.add_argument("--format", choices=("human", "json"), default="human")
    p.add_argument("-q", "--quiet", action="store_true", help="one line per point, nothing from the runs")
    p.add_argument("--verbose", action="store_true", help="the runs' losses at every logged iteration too")
    _backend_argument(p)
    p.set_defaults(func="sweep:cmd_sweep")


def _add_tooling_commands(sub) -> None:
    p = sub.add_parser("completion", help="print a shell completion script (bash or zsh)")
    p.add_argument("shell", choices=("bash", "zsh"))
    p.set_defaults(func="completion:cmd_completion", parser_factory=build_parser)


def _add_export_command(sub) -> None:
    p = sub.add_parser("export", help="write a run's generator as .keras, TensorFlow SavedModel and ONNX files",
                       description="Writes the generator (the EMA one when the run kept one) of the latest "
                                   "checkpoint, or --checkpoint, with export.json and README.txt: the inputs "
                                   "(z, and a one-hot label for conditional runs), the output, the latent prior "
                                   "and the output's value range. Each file is reloaded and checked to give the "
                                   "generator's images.")
    p.add_argument("run_dir", metavar="RUN_DIR")
    p.add_argument("-o", "--output", metavar="DIR", help="folder to write into (default RUN_DIR/export)")
    p.add_argument("--format", action="append", choices=EXPORT_FORMATS, dest="formats", metavar="FORMAT",
                   help=f"{', '.join(EXPORT_FORMATS)} (repeatable; default: every one this installation can "
                        "write, saying why any other is left out)")
    p.add_argument("--checkpoint", metavar="NAME", help="a checkpoint folder name, e.g. ckpt-00001000")
    p.add_argument("--no-ema", action="store_true", help="export the raw generator even if an EMA one exists")
    _backend_argument(p)
    p.set_defaults(func="export:cmd_export")


def _add_data_commands(sub) -> None:
    from ganspec.download import DATA_SETS

    data = sub.add_parser("data", help="download the data sets the specs use (MNIST) into the per-user data folder",
                          description="Relative data paths in specs are looked up next to the spec, then in "
                                      "$GANSPEC_DATA folders, the working folder and last the per-user data "
                                      "folder ($GANSPEC_DATA_HOME, else the platform's place for it), which "
                                      "`ganspec data get` fills.")
    actions = data.add_subparsers(dest="data_command", required=True, metavar="ACTION")

    p = actions.add_parser("get", help="download data sets (skipping files already there and verified)")
    p.add_argument("names", nargs="+", metavar="NAME", choices=sorted(DATA_SETS),
                   help=f"data set: {', '.join(sorted(DATA_SETS))}")
    _data_dir_argument(p)
    p.add_argument("--mirror", action="append", default=[], metavar="URL",
                   help="also try this mirror first: a base URL (https://, file://) or a folder holding the files "
                        "under their usual names (repeatable)")
    p.set_defaults(func="data:cmd_data_get")

    p = actions.add_parser("list", help="the data sets `get` knows, and which are in the data folder")
    _data_dir_argument(p)
    p.set_defaults(func="data:cmd_data_list")

    p = actions.add_parser("where", help="print the per-user data folder")
    p.set_defaults(func="data:cmd_data_where")


def _data_dir_argument(parser) -> None:
    parser.add_argument("--dir", metavar="DIR", help="the data folder (default: the per-user data folder, "
                                                     "see `ganspec data where`); a data set goes into DIR/NAME")


def _truncation_argument(p) -> None:
    p.add_argument("--truncation", type=float, metavar="T",
                   help="draw the normal factors of z from N(0, std^2) truncated to [-T std, T std] (the "
                        "truncation trick, Brock et al. 2019); default: the spec's evaluate.truncation, if any")


def _backend_argument(parser) -> None:
    parser.add_argument("--backend", choices=BACKENDS,
                        help="Keras backend (default: $KERAS_BACKEND if it names one, else the spec's train.backend)")


def main(argv: list[str] | None = None) -> int:
    """Run `ganspec ARGV...` and return its exit code (ganspec.exitcodes)."""
    from ganspec.plugins import PluginError, load_plugins

    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        load_plugins(args.plugin)
        return command(args.func)(args)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return exitcodes.INTERRUPTED
    except SystemExit:
        raise
    except PluginError as exc:
        return _plugin_failed(exc)
    except BrokenPipeError:  # the reader went away (`ganspec schema | head -1`): nothing left to say
        _silence_stdout()
        return exitcodes.OK
    except OSError as exc:  # a file the command could not read or write (a missing folder, a full disk)
        where = f" {exc.filename}" if exc.filename else ""
        print(f"error: cannot read or write{where}: {exc.strerror or exc}", file=sys.stderr)
        return exitcodes.UNREADABLE
    except Exception as exc:  # never show a traceback for a user error; say it is ours
        import traceback

        if os.environ.get("GANSPEC_DEBUG"):
            traceback.print_exc()
        print(f"ganspec: internal error: {type(exc).__name__}: {exc}\n"
              "This is a bug in ganspec; set GANSPEC_DEBUG=1 for the traceback.", file=sys.stderr)
        return exitcodes.INTERNAL_ERROR


def command(name: str):
    """The function of a command named "module:function" (a module of ganspec.commands), imported now:
    a command's imports cost only the commands that use them. The cyclic garbage collector is paused
    while they import: a module's classes and tables live as long as the process, and collections
    that walk them again and again while they are built find nothing to free."""
    import gc
    import importlib

    module, function = name.split(":")
    paused = gc.isenabled()
    gc.disable()
    try:
        return getattr(importlib.import_module(f"ganspec.commands.{module}"), function)
    finally:
        if paused:
            gc.enable()


def _silence_stdout() -> None:
    """Point stdout at /dev/null, so that flushing it at exit does not raise again."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError, AttributeError):
        pass


def _plugin_failed(exc) -> int:
    """A plugin that does not load, or whose training half does not import: said plainly, exit 2."""
    from ganspec.report.report import Report

    report = Report(stderr=True)
    report.error("E500", str(exc), hint=exc.hint)
    return report.exit_code


if __name__ == "__main__":
    sys.exit(main())
