"""A reader of the block-style YAML that action.yml and .pre-commit-hooks.yaml are written in, for
when PyYAML (not a ganspec dependency) is not installed: block mappings and sequences, plain and
quoted scalars, `true`/`false`, `>-` and `|` scalars, `#` comments. Anything else is an error, so a
file that leaves the subset fails the tests rather than being misread; where PyYAML is installed,
tests/tooling/test_ci_files.py checks that both readers agree."""

from __future__ import annotations

import json
import re


class YamlSubsetError(ValueError):
    pass


def load(text: str):
    """The document in `text`."""
    lines = []
    for number, raw in enumerate(text.splitlines(), 1):
        if "\t" in raw[: len(raw) - len(raw.lstrip())]:
            raise YamlSubsetError(f"line {number}: a tab in the indentation")
        if raw.strip() and not raw.lstrip().startswith("#"):
            lines.append((len(raw) - len(raw.lstrip(" ")), raw.strip(), number, raw))
        else:
            lines.append((None, "", number, raw))  # blank or comment: kept for block scalars
    value, end = _node(lines, _next(lines, 0), 0)
    if _next(lines, end) < len(lines):
        raise YamlSubsetError(f"line {lines[_next(lines, end)][2]}: unexpected text")
    return value


def _next(lines, i: int) -> int:
    while i < len(lines) and lines[i][0] is None:
        i += 1
    return i


def _node(lines, i: int, indent: int):
    if i >= len(lines):
        return None, i
    if lines[i][1].startswith("- ") or lines[i][1] == "-":
        return _sequence(lines, i, lines[i][0])
    return _mapping(lines, i, lines[i][0])


def _sequence(lines, i: int, indent: int):
    items = []
    while i < len(lines) and lines[i][0] == indent and (lines[i][1].startswith("- ") or lines[i][1] == "-"):
        rest = lines[i][1][2:].strip()
        if not rest:
            value, i = _node(lines, _next(lines, i + 1), indent + 1)
        elif re.match(r"[A-Za-z0-9_.-]+\s*:(\s|$)", rest):  # a mapping starting on the dash's line
            inner = indent + 2
            lines = lines[:i] + [(inner, rest, lines[i][2], lines[i][3])] + lines[i + 1:]
            value, i = _mapping(lines, i, inner)
        else:
            value, i = _scalar(rest, lines[i][2]), i + 1
        items.append(value)
        i = _next(lines, i)
    return items, i


def _mapping(lines, i: int, indent: int):
    out = {}
    while i < len(lines) and lines[i][0] == indent:
        found = re.match(r"([A-Za-z0-9_.-]+)\s*:(?:\s+(.*))?$", lines[i][1])
        if not found:
            raise YamlSubsetError(f"line {lines[i][2]}: expected `key: value`")
        key, rest = found.group(1), _strip_comment(found.group(2) or "")
        if key in out:
            raise YamlSubsetError(f"line {lines[i][2]}: `{key}` twice")
        if rest in (">-", ">", "|", "|-"):
            out[key], i = _block_scalar(lines, i + 1, indent, rest)
        elif rest:
            out[key], i = _scalar(rest, lines[i][2]), i + 1
        else:
            j = _next(lines, i + 1)
            if j < len(lines) and (lines[j][0] > indent or (lines[j][0] == indent and lines[j][1].startswith("-"))):
                out[key], i = _node(lines, j, lines[j][0])
            else:
                out[key], i = None, i + 1
        i = _next(lines, i)
    if i < len(lines) and lines[i][0] > indent:
        raise YamlSubsetError(f"line {lines[i][2]}: unexpected indentation")
    return out, i


def _block_scalar(lines, i: int, indent: int, style: str):
    body = []
    while i < len(lines) and (lines[i][0] is None or lines[i][0] > indent):
        body.append(lines[i][3])
        i += 1
    while body and not body[-1].strip():
        body.pop()
    margin = min((len(b) - len(b.lstrip(" ")) for b in body if b.strip()), default=0)
    body = [b[margin:] for b in body]
    if style.startswith(">"):
        text = " ".join(b.strip() for b in body)
    else:
        text = "\n".join(body)
    return text + ("" if style.endswith("-") else "\n"), i


def _strip_comment(text: str) -> str:
    if text.startswith("#"):
        return ""
    if text.startswith(('"', "'")):
        return text
    return re.split(r"\s+#", text, maxsplit=1)[0].strip()


def _scalar(text: str, number: int):
    text = _strip_comment(text)
    if text.startswith('"'):
        return json.loads(text)
    if text.startswith("'"):
        if not text.endswith("'"):
            raise YamlSubsetError(f"line {number}: unclosed quote")
        return text[1:-1].replace("''", "'")
    if text.startswith(("[", "{", "&", "*", "!", "|", ">", "%", "@", "`")):
        raise YamlSubsetError(f"line {number}: `{text}` is outside the subset")
    if text in ("true", "false"):
        return text == "true"
    return text
