"""Errors of the data stage: a `SpecError` whose diagnostic points at the spec line that named the data."""

from __future__ import annotations

from ganspec.diagnostics import Diagnostic, Span, SpecError, error


class DataError(SpecError):
    """Data that cannot be read (E001) or does not hold what the spec says (E204, E303, E305)."""

    @property
    def diagnostic(self) -> Diagnostic:
        return self.diagnostics[0]


def unreadable(message: str, span: Span | None, hint: str | None = None) -> DataError:
    """A file that is missing or cannot be read at all."""
    return DataError(error("E001", message, span, hint))


def bad_data(message: str, span: Span | None, hint: str | None = None) -> DataError:
    """A file that reads, but whose content is not what the spec asks for."""
    return DataError(error("E204", message, span, hint))
