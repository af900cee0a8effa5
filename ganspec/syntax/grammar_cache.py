"""The LALR parser of grammar/gan.lark, built once per grammar and kept in the user's cache folder.

Building the parse tables from the grammar takes most of a tenth of a second, every time a command
starts; loading them back takes a few milliseconds. The tables are stored as plain data (Python's
`marshal`: dicts, lists, strings and numbers, nothing that runs code when read) under
`$GANSPEC_CACHE/grammar/` (default `~/.cache/ganspec`, as the metric statistics), in a file named
by a hash of everything that shapes them: the grammar text, the Lark version and options, the
Python version and this file's format. A grammar edit or a Lark upgrade therefore picks a new file.

The cache can only save time, never change a parse: a file that is missing, truncated, edited or
written by something else fails its checksum or its load and is rebuilt and rewritten; a folder
that cannot be created or written leaves every start building the parser, as without a cache.
"""

from __future__ import annotations

import hashlib
import marshal
import os
import sys
import tempfile
from pathlib import Path

from lark import Lark
from lark import __version__ as LARK_VERSION

CACHE_ENV = "GANSPEC_CACHE"  # shared with ganspec.metrics.features (computed statistics)
FORMAT = b"ganspec-grammar-cache 1"


def cache_dir() -> Path | None:
    """The folder of cached parsers: $GANSPEC_CACHE/grammar, else ~/.cache/ganspec/grammar; None when
    there is no home folder to put it in."""
    root = os.environ.get(CACHE_ENV)
    try:
        base = Path(root).expanduser() if root else Path.home() / ".cache" / "ganspec"
    except RuntimeError:  # no home folder can be determined
        return None
    return base / "grammar"


def cache_key(grammar: str, options: dict) -> str:
    """A hash of what the parse tables depend on."""
    digest = hashlib.sha256()
    for part in (FORMAT.decode(), LARK_VERSION, "%d.%d" % sys.version_info[:2], repr(sorted(options.items())), grammar):
        digest.update(part.encode("utf-8"))
        digest.update(b"\0")
    return digest.hexdigest()


def cached_lark(grammar: str, folder: Path | None = None, transformer=None, **options) -> Lark:
    """`Lark(grammar, transformer=transformer, **options)` (an LALR parser), from the cache when a
    valid entry is there, else built and stored for the next process. `options` are plain values
    (they name the cache entry); the transformer is not stored, only given to the loaded parser."""
    folder = cache_dir() if folder is None else folder
    key = cache_key(grammar, options)
    path = folder / f"gan-{key[:32]}.parser" if folder is not None else None
    if path is not None:
        parser = _load(path, key, transformer)
        if parser is not None:
            return parser
    parser = Lark(grammar, transformer=transformer, **options)
    if path is not None:
        _store(path, key, parser)
    return parser


def _load(path: Path, key: str, transformer) -> Lark | None:
    """The parser stored at `path`, or None when there is none or it is not exactly what was stored."""
    try:
        blob = path.read_bytes()
    except OSError:
        return None
    header, _, payload = blob.partition(b"\n")
    if header != _header(key, payload):
        return None  # another format, another key, or the payload changed since it was written
    try:
        stored = marshal.loads(payload)
        return Lark._load_from_dict(stored["data"], stored["memo"], transformer=transformer)
    except Exception:  # written by another Lark or damaged past what the checksum sees: rebuild
        return None


def _store(path: Path, key: str, parser: Lark) -> None:
    """Write the parser's tables at `path` atomically; a folder that cannot be written is left alone."""
    from lark.grammar import Rule
    from lark.lexer import TerminalDef

    try:
        data, memo = parser.memo_serialize([TerminalDef, Rule])
        data["options"] = {name: value for name, value in data["options"].items() if name != "transformer"}
        payload = marshal.dumps({"data": data, "memo": memo})
    except (ValueError, TypeError):  # a Lark whose tables hold something marshal cannot write
        return
    try:
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=path.name, suffix=".tmp")
        try:
            with os.fdopen(handle, "wb") as out:
                out.write(_header(key, payload) + b"\n" + payload)
            os.replace(temporary, path)  # readers see the old file or the whole new one
        except BaseException:
            os.unlink(temporary)
            raise
    except OSError:
        pass


def _header(key: str, payload: bytes) -> bytes:
    return FORMAT + b" " + key.encode("ascii") + b" " + hashlib.sha256(payload).hexdigest().encode("ascii")
