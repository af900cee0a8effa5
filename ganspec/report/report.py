"""One object per command turns its findings and results into output and an exit code.

Modelled on Black's `Report`: a command adds diagnostics and results to its `Report` and
returns `report.exit_code`; it never prints a diagnostic itself and never picks an exit
code. People get Rich output with the source line and a caret, written as findings arrive
(so a run's warnings appear before it trains); `--format github` gets workflow annotations,
also as they arrive; `--format json` (validate) gets one document at the end.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterable

from ganspec import exitcodes
from ganspec.diagnostics import Diagnostic, Severity, error
from ganspec.report.diagnostics import SourceCache, github_annotation, print_rich, to_json

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
        from rich.console import Console

        self.format = format
        self.strict = strict
        self.console = Console(stderr=stderr, highlight=False, soft_wrap=True)
        self._notes = Console(stderr=True, highlight=False, soft_wrap=True) if data_on_stdout else self.console
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
            status = ("[bold red]invalid[/]" if errors else "[bold yellow]ok with warnings[/]" if warnings
                      else "[bold green]ok[/]")
            self.console.print(f"{status}: {len(self.files)} file(s) checked in {elapsed * 1000:.0f} ms: "
                               f"{len(self.files) - bad} valid, {bad} invalid; {errors} error(s), "
                               f"{warnings} warning(s)")
