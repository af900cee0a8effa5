"""The parse tables of grammar/gan.lark, kept in the user's cache folder (ganspec/syntax/grammar_cache.py):
used when valid, never able to change a parse, rebuilt when damaged, harmless when they cannot be written.

No timings: what is checked is which path was taken (built or loaded) and what came out."""

from __future__ import annotations

import pytest
from lark import Lark, Token, Tree
from lark.exceptions import UnexpectedInput

from ganspec.syntax import grammar_cache, parser
from tests.conftest import ROOT, SPECS

SPEC_FILES = sorted(SPECS.rglob("*.gan")) + sorted((ROOT / "tests" / "golden").rglob("*.gan"))
OPTIONS = {"parser": "lalr", "keep_all_tokens": True, "maybe_placeholders": False}


class CountingLark(Lark):
    """Lark, counting the parsers built from a grammar (loading from the cache builds none)."""

    built = 0

    def __init__(self, *args, **kwargs):
        type(self).built += 1
        super().__init__(*args, **kwargs)


@pytest.fixture
def counting(monkeypatch):
    CountingLark.built = 0
    monkeypatch.setattr(grammar_cache, "Lark", CountingLark)
    return CountingLark


@pytest.fixture
def cache(tmp_path, monkeypatch):
    """$GANSPEC_CACHE in a fresh folder, and the parser module's own parser forgotten before and after."""
    monkeypatch.setenv(grammar_cache.CACHE_ENV, str(tmp_path / "cache"))
    parser._parser.cache_clear()
    yield tmp_path / "cache" / "grammar"
    parser._parser.cache_clear()


def _entries(folder):
    return sorted(folder.glob("*.parser")) if folder.exists() else []


def _leaves(tree) -> list[tuple]:
    """Every token with its position, in order: what a parse tree says beyond its shape."""
    out = []
    for node in tree.iter_subtrees_topdown():
        for child in node.children:
            if isinstance(child, Token):
                out.append((child.type, str(child), child.line, child.column, child.end_line, child.end_column,
                            child.start_pos, child.end_pos))
    return out


def _error(exc) -> tuple:
    return (exc.line, exc.column, exc.pos_in_stream, str(getattr(exc, "token", "")),
            frozenset(getattr(exc, "expected", None) or ()))


def test_the_parser_is_stored_once_then_loaded(cache, counting):
    grammar_cache.cached_lark(parser.grammar_text(), **OPTIONS)
    assert counting.built == 1
    assert len(_entries(cache)) == 1
    loaded = grammar_cache.cached_lark(parser.grammar_text(), **OPTIONS)
    assert counting.built == 1, "the second parser should come from the cache"
    assert isinstance(loaded, Lark) and len(_entries(cache)) == 1


def test_a_cached_parser_gives_the_same_trees_as_a_fresh_one(cache):
    fresh = Lark(parser.grammar_text(), **OPTIONS)
    grammar_cache.cached_lark(parser.grammar_text(), **OPTIONS)  # stores
    cached = grammar_cache.cached_lark(parser.grammar_text(), **OPTIONS)  # loads
    assert cached is not fresh
    for path in SPEC_FILES:
        text = path.read_bytes().decode("utf-8", errors="replace")
        try:
            expected = fresh.parse(text)
        except UnexpectedInput as exc:  # the golden error cases: the same error, at the same place
            with pytest.raises(type(exc)) as raised:
                cached.parse(text)
            assert _error(raised.value) == _error(exc), path
            continue
        actual = cached.parse(text)
        assert isinstance(actual, Tree)
        assert actual == expected, path
        assert _leaves(actual) == _leaves(expected), path


def test_documents_parsed_through_the_cache_equal_freshly_built_ones(cache, counting):
    built = [parser.parse(p.read_text(encoding="utf-8"), str(p)) for p in SPECS.rglob("*.gan")]
    assert counting.built == 1 and len(_entries(cache)) == 1
    parser._parser.cache_clear()  # as a new process would: load the stored tables
    loaded = [parser.parse(p.read_text(encoding="utf-8"), str(p)) for p in SPECS.rglob("*.gan")]
    assert counting.built == 1, "the second process should load the parser"
    assert loaded == built  # every node and every span


@pytest.mark.parametrize("damage", ["garbage", "truncated", "payload", "empty"])
def test_a_damaged_entry_is_ignored_and_rewritten(cache, counting, damage):
    grammar_cache.cached_lark(parser.grammar_text(), **OPTIONS)
    (entry,) = _entries(cache)
    good = entry.read_bytes()
    assert good
    if damage == "garbage":
        entry.write_bytes(b"\x00\xffnot a parser at all\n" * 100)
    elif damage == "truncated":
        entry.write_bytes(good[: len(good) // 2])
    elif damage == "payload":  # the header kept, the tables still loadable, but a name may no longer hold a z
        assert b"[A-Za-z_][A-Za-z0-9_]*" in good
        entry.write_bytes(good.replace(b"[A-Za-z_][A-Za-z0-9_]*", b"[A-Ya-y_][A-Ya-y0-9_]*"))
    else:
        entry.write_bytes(b"")
    damaged = entry.read_bytes()
    rebuilt = grammar_cache.cached_lark(parser.grammar_text(), **OPTIONS)
    assert counting.built == 2, "a damaged entry must not be used"
    text = (SPECS / "wgan_gp.gan").read_text() + "let zeta = 0.5\n"
    assert rebuilt.parse(text) == Lark(parser.grammar_text(), **OPTIONS).parse(text)
    assert entry.read_bytes() != damaged, "the entry is written again"
    again = grammar_cache.cached_lark(parser.grammar_text(), **OPTIONS)
    assert counting.built == 2, "and used again"
    assert again.parse(text) == rebuilt.parse(text)


def test_an_entry_from_another_lark_is_not_loaded(cache, counting, monkeypatch):
    grammar_cache.cached_lark(parser.grammar_text(), **OPTIONS)
    monkeypatch.setattr(grammar_cache, "LARK_VERSION", "0.0.1")  # as after an upgrade of Lark
    grammar_cache.cached_lark(parser.grammar_text(), **OPTIONS)
    assert counting.built == 2
    assert len(_entries(cache)) == 2  # each version its own entry


def test_the_grammar_and_the_options_name_the_entry(cache, counting):
    grammar_cache.cached_lark(parser.grammar_text(), **OPTIONS)
    grammar_cache.cached_lark(parser.grammar_text() + "\n// an edit\n", **OPTIONS)
    grammar_cache.cached_lark(parser.grammar_text(), **{**OPTIONS, "keep_all_tokens": False})
    assert counting.built == 3
    assert len(_entries(cache)) == 3


def test_a_cache_folder_that_cannot_be_made_still_parses(tmp_path, monkeypatch, counting):
    blocker = tmp_path / "a-file"
    blocker.write_text("the cache folder would have to be inside this file\n")
    monkeypatch.setenv(grammar_cache.CACHE_ENV, str(blocker / "cache"))
    parser._parser.cache_clear()
    try:
        document = parser.parse((SPECS / "wgan_gp.gan").read_text(), "wgan_gp.gan")
        assert document.experiment is not None
        parser._parser.cache_clear()
        parser.parse((SPECS / "wgan_gp.gan").read_text(), "wgan_gp.gan")
        assert counting.built == 2, "nothing could be stored, so each start builds the parser"
        assert blocker.is_file()
    finally:
        parser._parser.cache_clear()


def test_a_read_only_cache_folder_still_parses(tmp_path, counting):
    folder = tmp_path / "read-only"
    folder.mkdir()
    folder.chmod(0o500)
    try:
        probe = folder / "probe"
        try:
            probe.write_text("")
        except PermissionError:
            pass
        else:  # running as root: permissions do not stop it, and the folder is simply writable
            probe.unlink()
            pytest.skip("the file system lets this user write into a read-only folder")
        parsed = grammar_cache.cached_lark(parser.grammar_text(), folder=folder, **OPTIONS)
        assert parsed.parse((SPECS / "dcgan.gan").read_text())
        assert counting.built == 1 and not list(folder.iterdir())
    finally:
        folder.chmod(0o700)


def test_without_a_home_folder_there_is_no_cache(monkeypatch):
    monkeypatch.delenv(grammar_cache.CACHE_ENV, raising=False)

    def no_home():
        raise RuntimeError("Could not determine home directory.")

    monkeypatch.setattr(grammar_cache.Path, "home", staticmethod(no_home))
    assert grammar_cache.cache_dir() is None


def test_the_cache_folder_follows_ganspec_cache(monkeypatch, tmp_path):
    monkeypatch.setenv(grammar_cache.CACHE_ENV, str(tmp_path))
    assert grammar_cache.cache_dir() == tmp_path / "grammar"
    monkeypatch.delenv(grammar_cache.CACHE_ENV)
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert grammar_cache.cache_dir() == tmp_path / "home" / ".cache" / "ganspec" / "grammar"
