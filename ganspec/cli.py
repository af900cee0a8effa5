"""The `ganspec` command: the argument parser and `main`. The commands live in `ganspec.commands`;
heavy libraries (TensorFlow, JAX) are imported only by the commands that train, so validate,
diff, fmt, explain and schema never import them."""

from __future__ import annotations

import argparse
import os
import sys

from ganspec import __version__, exitcodes
from ganspec.backend import BACKENDS
from ganspec.commands.language import cmd_diff, cmd_explain, cmd_fmt, cmd_schema, cmd_validate
from ganspec.commands.training import cmd_compare, cmd_eval, cmd_run, cmd_sample


def build_parser() -> argparse.ArgumentParser:
    """The parser of every `ganspec` subcommand; each sets `func`, the command to call."""
    parser = argparse.ArgumentParser(prog="ganspec", description="Declarative GAN experiments.")
    parser.add_argument("--version", action="version", version=f"ganspec {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    _add_language_commands(sub)
    _add_training_commands(sub)
    for command in sub.choices.values():
        command.add_argument("--plugin", action="append", default=[], metavar="MODULE",
                             help="load a plugin: a module name or a .py file (repeatable; also "
                                  "$GANSPEC_PLUGINS and installed `ganspec.plugins` entry points)")
    return parser


def _add_exclude(parser) -> None:
    parser.add_argument("--exclude", action="append", default=[], metavar="GLOB",
                        help="skip matching files or folders in folder walks (which already skip hidden folders "
                             "and run directories); repeatable")


def _add_language_commands(sub) -> None:
    p = sub.add_parser("validate", help="check .gan specs (files or folders)")
    p.add_argument("paths", nargs="+", metavar="PATH")
    p.add_argument("--format", choices=("human", "json", "github"), default="human")
    p.add_argument("--strict", action="store_true", help="treat warnings as errors (exit 1)")
    p.add_argument("-q", "--quiet", action="store_true", help="no summary line")
    _add_exclude(p)
    p.set_defaults(func=cmd_validate)

    p = sub.add_parser("diff", help="hyperparameters that differ between two resolved specs")
    p.add_argument("a")
    p.add_argument("b")
    p.add_argument("--format", choices=("human", "json"), default="human")
    p.add_argument("--metadata", action="store_true", help="also compare description and tags")
    p.set_defaults(func=cmd_diff)

    p = sub.add_parser("fmt", help="format .gan files in place (or check that they are formatted)")
    p.add_argument("paths", nargs="+", metavar="PATH", help="files, folders, or - for stdin")
    p.add_argument("--check", action="store_true", help="change nothing; exit 1 if a file would change")
    p.add_argument("--diff", action="store_true", help="change nothing; print what would change as a unified "
                                                       "diff (exit 1 if a file would change)")
    _add_exclude(p)
    p.set_defaults(func=cmd_fmt)

    p = sub.add_parser("explain", help="the resolved spec and per-layer shapes and parameter counts")
    p.add_argument("spec")
    p.add_argument("--format", choices=("human", "json"), default="human")
    p.add_argument("--set", action="append", metavar="PATH=VALUE", help="override a value")
    p.set_defaults(func=cmd_explain)

    p = sub.add_parser("schema", help="JSON Schema of a resolved spec")
    p.set_defaults(func=cmd_schema)


def _add_training_commands(sub) -> None:
    p = sub.add_parser("run", help="train a spec (or resume a run directory)")
    p.add_argument("spec", nargs="?", help="the .gan file (optional with --resume)")
    p.add_argument("--set", action="append", metavar="PATH=VALUE", help="override a value, e.g. train.batch=32")
    p.add_argument("--out", metavar="DIR", help="parent folder of the run directory (default ./runs)")
    p.add_argument("--iterations", type=int, metavar="N", help="generator iterations (overrides the spec)")
    p.add_argument("--resume", metavar="RUN_DIR", help="continue a run from its latest checkpoint")
    p.add_argument("--force", action="store_true", help="resume even though the spec changed")
    p.add_argument("--plain", action="store_true", help="plain log lines instead of the live display")
    _backend_argument(p)
    p.set_defaults(func=cmd_run)

    p = sub.add_parser("sample", help="write a grid of samples from a run's generator")
    p.add_argument("run_dir")
    p.add_argument("-n", type=int, default=64, help="number of samples (default 64)")
    p.add_argument("-o", "--output", default="samples.png", help="PNG file to write")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--no-ema", action="store_true", help="use the raw generator even if an EMA one exists")
    _backend_argument(p)
    p.set_defaults(func=cmd_sample)

    p = sub.add_parser("eval", help="evaluate a run's generator (latest checkpoint, or --checkpoint)")
    p.add_argument("run_dir")
    p.add_argument("--metric", action="append", metavar="METRIC", help="e.g. fid or 'kid(samples: 2000)'")
    p.add_argument("--samples", type=int, metavar="N", help="samples per metric (overrides the spec)")
    p.add_argument("--checkpoint", metavar="NAME", help="a checkpoint folder name, e.g. ckpt-00001000")
    p.add_argument("--no-ema", action="store_true", help="use the raw generator even if an EMA one exists")
    p.add_argument("--format", choices=("human", "json"), default="human")
    _backend_argument(p)
    p.set_defaults(func=cmd_eval)

    p = sub.add_parser("compare", help="runs side by side: scores, spec differences, metric curves")
    p.add_argument("run_dirs", nargs="+", metavar="RUN_DIR")
    p.add_argument("--plot", default="compare.png", help="PNG of metric curves (default compare.png)")
    p.add_argument("--format", choices=("human", "json"), default="human")
    p.set_defaults(func=cmd_compare)


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
        return args.func(args)
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
    except Exception as exc:  # never show a traceback for a user error; say it is ours
        import traceback

        if os.environ.get("GANSPEC_DEBUG"):
            traceback.print_exc()
        print(f"ganspec: internal error: {type(exc).__name__}: {exc}\n"
              "This is a bug in ganspec; set GANSPEC_DEBUG=1 for the traceback.", file=sys.stderr)
        return exitcodes.INTERNAL_ERROR


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
