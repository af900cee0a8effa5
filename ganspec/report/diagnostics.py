"""Render diagnostics: for people (Rich, with the source line and a caret), JSON, GitHub annotations."""

from __future__ import annotations

from ganspec.diagnostics import Diagnostic, Severity

_STYLE = {Severity.ERROR: "bold red", Severity.WARNING: "bold yellow", Severity.INFO: "bold blue"}


class SourceCache:
    """Source lines by file, read once (spans may point into files a spec extends)."""

    def __init__(self, texts: dict[str, str] | None = None):
        self.texts = dict(texts or {})

    def remember(self, file: str, text: str) -> None:
        """Use `text` as the source of `file` (text that was never in a file, such as stdin)."""
        self.texts[file] = text

    def line(self, file: str, number: int) -> str | None:
        if file not in self.texts:
            self.texts[file] = _source_text(file)
        lines = self.texts[file].splitlines()
        if 1 <= number <= len(lines):
            return lines[number - 1].rstrip("\r")
        return None


def _source_text(file: str) -> str:
    """The text of a spec file for quoting its lines: only a .gan file, and only a regular one of a spec's
    size (`ganspec.syntax.parser.read_source`). Any other file's lines are never shown: a path given as a
    spec or in `extends` may name a file of secrets, and a FIFO or a device would block or never end."""
    from ganspec.diagnostics import SpecError
    from ganspec.syntax.parser import read_source

    if not file.endswith(".gan"):
        return ""
    try:
        return read_source(file).decode("utf-8", errors="replace")
    except SpecError:
        return ""


def render_text(diag: Diagnostic, sources: SourceCache) -> str:
    """Plain-text form (also used by golden tests):

    error[E303] generator-output: message
      --> file:line:col
       |
    12 |     the source line
       |     ^^^^^
       = hint: ...
    """
    out = [f"{diag.severity.value}[{diag.code}] {diag.name}: {diag.message}"]
    span = diag.span
    if span is not None:
        out.append(f"  --> {span.file}:{span.line}:{span.column}")
        text = sources.line(span.file, span.line)
        if text is not None:
            gutter = " " * len(str(span.line))
            width = (span.end_column - span.column) if span.end_line == span.line else len(text) - span.column + 1
            width = max(1, min(width, max(1, len(text) - span.column + 1)))
            prefix = "".join(c if c == "\t" else " " for c in text[: span.column - 1])
            out.append(f"{gutter} |")
            out.append(f"{span.line} | {text}")
            out.append(f"{gutter} | {prefix}{'^' * width}")
    for note in diag.notes:
        out.append(f"   = note: {note}")
    if diag.hint:
        out.append(f"   = hint: {diag.hint}")
    return "\n".join(out)


def print_rich(console, diag: Diagnostic, sources: SourceCache) -> None:
    """`render_text` on a Rich console, coloured by severity, then a blank line."""
    from rich.text import Text

    lines = render_text(diag, sources).split("\n")
    head = Text()
    head.append(f"{diag.severity.value}[{diag.code}]", style=_STYLE[diag.severity])
    head.append(f" {diag.name}: ", style="dim")
    head.append(diag.message, style="bold")
    console.print(head)
    source_line = f"{diag.span.line} | " if diag.span is not None else None
    for line in lines[1:]:
        style = None
        if source_line and line.startswith(source_line):  # the quoted source, highlighted as .gan code
            code = line[len(source_line):]
            # Colours only where they show: without a colour system (output to a file or a pipe) the
            # plain text is the same, and Pygments and rich.syntax are never imported.
            shown = _highlighted(code) if console.color_system else _unhighlighted(code)
            console.print(Text(source_line) + shown, highlight=False)
            continue
        if line.lstrip().startswith("-->"):
            style = "cyan"
        elif set(line.split("|")[-1].strip()) == {"^"}:
            style = _STYLE[diag.severity]
        elif line.lstrip().startswith("= hint"):
            style = "green"
        elif line.lstrip().startswith("= note"):
            style = "dim"
        console.print(Text(line, style=style or ""), highlight=False)
    console.print()


# What rich.text.Text removes from the text it is given (rich.control.strip_control_codes), and tabs,
# which it expands by cells: text with any of them is left to Rich.
_RICH_CHANGES = frozenset("\t\x07\x08\x0b\x0c\r")


def render_uncoloured(diag: Diagnostic, sources: SourceCache) -> str | None:
    """What `print_rich` writes on a console without a colour system (output to a file or a pipe),
    made without Rich: the lines of `render_text`, the quoted source line as `_unhighlighted` gives it,
    then a blank line. None where Rich could write something else (a tab, a control character Rich
    drops, a message of several lines), which is then left to `print_rich`."""
    text = render_text(diag, sources)
    if "\n" in diag.message or not _RICH_CHANGES.isdisjoint(text):
        return None
    lines = text.split("\n")
    out = [f"{diag.severity.value}[{diag.code}] {diag.name}: {diag.message}"]
    source_line = f"{diag.span.line} | " if diag.span is not None else None
    for line in lines[1:]:
        if source_line and line.startswith(source_line):
            code = line[len(source_line):]
            out.append(source_line + (code[1:] if code.startswith("\ufeff") else code).rstrip())
        else:
            out.append(line)
    return "\n".join(out) + "\n\n"


def _highlighted(code: str):
    """One line of .gan source as Rich text, coloured by ganspec's Pygments lexer."""
    from rich.syntax import Syntax

    from ganspec.syntax.lexer import GanLexer

    text = Syntax(code, GanLexer(), theme="ansi_dark", background_color="default").highlight(code)
    text.rstrip()
    return text


def _unhighlighted(code: str):
    """The text `_highlighted` gives, without its colours: Pygments drops a leading byte-order mark, and
    the trailing whitespace goes."""
    from rich.text import Text

    text = Text(code[1:] if code.startswith("\ufeff") else code)
    text.rstrip()
    return text


def github_annotation(diag: Diagnostic) -> str:
    """A GitHub Actions workflow command: ::error file=...,line=...::message."""
    level = {Severity.ERROR: "error", Severity.WARNING: "warning", Severity.INFO: "notice"}[diag.severity]
    props = []
    if diag.span is not None:
        s = diag.span
        props = [f"file={_esc_prop(s.file)}", f"line={s.line}", f"col={s.column}",
                 f"endLine={s.end_line}", f"endColumn={s.end_column}"]
    props.append(f"title={_esc_prop(f'{diag.code} {diag.name}')}")
    message = diag.message + (f" (hint: {diag.hint})" if diag.hint else "")
    return f"::{level} {','.join(props)}::{_esc_data(message)}"


def _esc_data(text: str) -> str:
    return text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def _esc_prop(text: str) -> str:
    return _esc_data(text).replace(":", "%3A").replace(",", "%2C")


def to_json(results: list[tuple[str, list[Diagnostic]]]) -> str:
    """`validate --format json`: each file's diagnostics and counts, and a summary."""
    files = []
    for file, diags in results:
        files.append({
            "file": file,
            "ok": not any(d.severity is Severity.ERROR for d in diags),
            "errors": sum(d.severity is Severity.ERROR for d in diags),
            "warnings": sum(d.severity is Severity.WARNING for d in diags),
            "diagnostics": [d.to_json() for d in diags],
        })
    summary = {
        "files": len(files),
        "errors": sum(f["errors"] for f in files),
        "warnings": sum(f["warnings"] for f in files),
    }
    import json  # here: `validate` writes no JSON unless asked

    return json.dumps({"files": files, "summary": summary}, indent=2)
