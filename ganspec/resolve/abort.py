"""How resolution stops on an error: record the diagnostic, then raise `Abort`.

The nearest recovery point catches it and goes on with the next independent part
(a `let`, a setting, a network option, a layer, a call argument, a field of a
block), so a spec with several errors reports all of them. `Abort` never leaves
`ganspec.resolve`: the entry points turn it into `spec=None` plus diagnostics.
"""

from __future__ import annotations

from typing import NoReturn

from ganspec.diagnostics import Diagnostic, Span, error


class Abort(Exception):
    """The current part is given up; its diagnostic is already recorded."""


class Reporter:
    """Records the diagnostics of one resolution."""

    def __init__(self, diagnostics: list[Diagnostic]):
        self.diags = diagnostics

    def report(self, code: str, message: str, span: Span | None, hint: str | None = None, notes=()) -> None:
        """Record an error and carry on."""
        self.diags.append(error(code, message, span, hint, notes))

    def fail(self, code: str, message: str, span: Span | None, hint: str | None = None, notes=()) -> NoReturn:
        """Record an error and give up the current part."""
        self.report(code, message, span, hint, notes)
        raise Abort()
