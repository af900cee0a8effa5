"""One object per command turns its findings and results into output and an exit code.

Modelled on Black's `Report`: a command adds diagnostics and results to its `Report` and
returns `report.exit_code`; it never prints a diagnostic itself and never picks an exit
code. People get Rich output with the source line and a caret, written as findings arrive
(so a run's warnings appear before it trains); `--format github` gets workflow annotations,
also as they arrive; `--format json` (validate) gets one document at the end.
"""

from __future__ import annotations

import sys
from collections.abc import Iterable

from ganspec import exitcodes
from ganspec.diagnostics import Diagnostic, Severity, error
from ganspec.report.diagnostics import SourceCache, github_annotation, print_rich, render_uncoloured, to_json

# Errors that mean "what the command was given could not be read", not "what was read is wrong".
UNREADABLE_CODES = frozenset({"E001", "E502", "E503"})


def decide_exit_code(diagnostics: Iterable[Diagnostic], *, strict: bool = False, different: bool = False,
                     outcome: int = exitcodes.OK) -> int:
    """The exit code of a command, the first that applies: unreadable input (4), any other error (2),
    how a run ended (3 diverged, 130 interrupted), warnings under --strict (1), a difference
    found by diff or fmt --check (1), else 0."""
    diagnostics = list(diagnostics)
    errors = [d for d in diagnostics if d.severity is Severity.ERROR]
    if any(d.code in UNREADABLE_CODES for d in errors):
        return exitcodes.UNREADABLE
    if errors:
        return exitcodes.INVALID
    if outcome != exitcodes.OK:
        return outcome
    if strict and any(d.severity is Severity.WARNING for d in diagnostics):
        return exitcodes.WARNINGS_STRICT
    if different:
        return exitcodes.DIFFERENT
    return exitcodes.OK


class Report:
    """A command's diagnostics and results: rendered as they arrive, summed up in `exit_code`.

    `format`: how diagnostics are written: "human" (Rich), "github" (annotations) or "json"
    (kept for `finish_files`). `strict`: warnings count as errors. `stderr`: write to standard
    error (fmt, whose standard output may be the formatted text). `data_on_stdout`: standard
    output carries a JSON document, so side notes go to standard error.
    """

    def __init__(self, format: str = "human", *, strict: bool = False, stderr: bool = False,
                 data_on_stdout: bool = False):
        self.format = format
        self.strict = strict
        self._stderr = stderr
        self._data_on_stdout = data_on_stdout
        self._console = self._notes_console = None  # made when first needed (importing Rich takes a while)
        # Without a colour system Rich writes the text of a diagnostic as it is, so that text is written
        # here, and a command that only reports findings never imports Rich. Decided now, as a Rich
        # console decides its colour system when it is made.
        self._uncoloured = format == "human" and _rich_would_not_colour(stderr)
        self.sources = SourceCache()
        self.diagnostics: list[Diagnostic] = []
        self.files: list[tuple[str, list[Diagnostic]]] = []
        self.different = False  # diff found edits; fmt --check found a file to reformat
        self.outcome = exitcodes.OK  # how a run ended (diverged, interrupted)

    # ---- findings --------------------------------------------------------------------------

    def add(self, diagnostics: Diagnostic | Iterable[Diagnostic]) -> None:
        """Record diagnostics and, unless they are kept for a JSON document, write them now."""
        if isinstance(diagnostics, Diagnostic):
            diagnostics = [diagnostics]
        for diag in diagnostics:
            self.diagnostics.append(diag)
            if self.format == "human":
                text = render_uncoloured(diag, self.sources) if self._uncoloured else None
                if text is not None:
                    _write_as_rich(text, self._stderr)
                else:
                    print_rich(self.console, diag, self.sources)
            elif self.format == "github":
                if self.strict and diag.severity is Severity.WARNING:
                    diag = Diagnostic(diag.code, Severity.ERROR, diag.message, diag.span, diag.hint, diag.notes)
                print(github_annotation(diag))

    def error(self, code: str, message: str, hint: str | None = None, notes=()) -> None:
        """Record an error that points at no source line (the command line, a run directory)."""
        self.add(error(code, message, None, hint, notes))

    def add_file(self, file: str, diagnostics: list[Diagnostic]) -> None:
        """Record the findings about one checked file (`validate`), none included."""
        self.files.append((file, list(diagnostics)))
        self.add(diagnostics)

    @property
    def console(self):
        """The Rich console of the command's output (standard error with `stderr`)."""
        if self._console is None:
            from rich.console import Console

            self._console = Console(stderr=self._stderr, highlight=False, soft_wrap=True)
        return self._console

    @property
    def _notes(self):
        if not self._data_on_stdout:
            return self.console
        if self._notes_console is None:
            from rich.console import Console

            self._notes_console = Console(stderr=True, highlight=False, soft_wrap=True)
        return self._notes_console

    @property
    def failed(self) -> bool:
        """Whether an error was recorded: the command should stop."""
        return any(d.severity is Severity.ERROR for d in self.diagnostics)

    @property
    def exit_code(self) -> int:
        """The process exit code for everything recorded so far (see `decide_exit_code`)."""
        return decide_exit_code(self.diagnostics, strict=self.strict, different=self.different, outcome=self.outcome)

    # ---- results ---------------------------------------------------------------------------

    def print(self, *renderables) -> None:
        """A result for people: text with Rich markup, or a table."""
        self.console.print(*renderables)

    def note(self, text: str) -> None:
        """A side note (which backend runs), kept off standard output when that carries data."""
        self._notes.print(text)

    def data(self, document) -> None:
        """A result for programs: one JSON document on standard output."""
        import json  # here: `validate` writes no JSON unless asked

        print(json.dumps(document, indent=2))

    def write(self, text: str) -> None:
        """Text as it is on standard output (`fmt -`)."""
        sys.stdout.write(text)

    def diff(self, edits, a_name: str, b_name: str) -> None:
        """The differences between two resolved specs, as a table."""
        from ganspec.report.diff import print_diff

        print_diff(self.console, edits, a_name, b_name)

    def finish_files(self, elapsed: float, quiet: bool = False) -> None:
        """`validate`'s closing output: the JSON document, or a summary line of the files checked."""
        errors = sum(d.severity is Severity.ERROR for d in self.diagnostics)
        warnings = sum(d.severity is Severity.WARNING for d in self.diagnostics)
        if self.format == "json":
            print(to_json(self.files))
        elif self.format == "github":
            print(f"ganspec: {len(self.files)} file(s), {errors} error(s), {warnings} warning(s)")
        elif not quiet:
            bad = sum(1 for _, ds in self.files if any(d.severity is Severity.ERROR for d in ds))
            status, style = (("invalid", "bold red") if errors else ("ok with warnings", "bold yellow") if warnings
                             else ("ok", "bold green"))
            summary = (f"{status}: {len(self.files)} file(s) checked in {elapsed * 1000:.0f} ms: "
                       f"{len(self.files) - bad} valid, {bad} invalid; {errors} error(s), {warnings} warning(s)")
            if self._uncoloured:  # what Rich writes for the markup below, without colours
                _write_as_rich(summary + "\n", self._stderr)
            else:
                self.console.print(f"[{style}]{status}[/]{summary[len(status):]}")


def _rich_would_not_colour(stderr: bool) -> bool:
    """True where a Rich console made now (as `Report` makes them) would have no colour system, so
    that it writes text unchanged: not a terminal, by the tests of rich.console.Console.is_terminal in
    their order (a file without `isatty`, or none, is no terminal to Rich either). False wherever that
    is less plain: Windows, IPython and Jupyter, IDLE, or a terminal."""
    import builtins
    import os

    if sys.platform == "win32" or hasattr(builtins, "get_ipython"):  # Windows consoles; IPython, Jupyter
        return False
    if getattr(sys.stdin, "__module__", "").startswith("idlelib"):
        return False
    tty_compatible = os.environ.get("TTY_COMPATIBLE", "")
    if tty_compatible in ("0", "1"):
        return tty_compatible == "0"
    force_color = os.environ.get("FORCE_COLOR")
    if force_color is not None:
        return force_color == ""
    isatty = getattr(_rich_file(stderr), "isatty", None)
    try:
        return isatty is None or not isatty()
    except ValueError:
        return True  # Rich counts a closed file as no terminal


def _rich_file(stderr: bool):
    """The file a Rich console writes to now (rich.console.Console.file); None: nowhere."""
    file = sys.stderr if stderr else sys.stdout
    return getattr(file, "rich_proxied_file", file)


def _write_as_rich(text: str, stderr: bool) -> None:
    """Write text as a Rich console writes its output: then flush; the same hint on an encoding error,
    and the same exit (1, standard output pointed at /dev/null) when the reader has gone."""
    import os

    file = _rich_file(stderr)
    if file is None:
        return
    try:
        try:
            file.write(text)
        except UnicodeEncodeError as error:
            error.reason = f"{error.reason}\n*** You may need to add PYTHONIOENCODING=utf-8 to your environment ***"
            raise
        file.flush()
    except BrokenPipeError:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        raise SystemExit(1) from None
