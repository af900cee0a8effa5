"""The Pygments lexer (ganspec.syntax.lexer): every catalogue spec and golden file lexes without an error
token, the kinds of words come out as the grammar means them, and Pygments finds it by name."""

from __future__ import annotations

import pytest
from pygments.token import Comment, Error, Keyword, Name, Number, String

from ganspec.syntax.lexer import GanLexer
from tests.conftest import ROOT, all_spec_files


def _sources():
    files = list(all_spec_files()) + sorted((ROOT / "tests" / "golden").rglob("*.gan"))
    return [pytest.param(path, id=str(path.relative_to(ROOT))) for path in files if "not_utf8" not in path.name]


@pytest.mark.parametrize("path", _sources())
def test_specs_lex_without_error_tokens(path):
    text = path.read_text(encoding="utf-8")
    tokens = list(GanLexer().get_tokens(text))
    assert not [value for token, value in tokens if token in Error], path
    assert "".join(value for _, value in tokens) == text.replace("\r\n", "\n") + ("" if text.endswith("\n") else "\n")


def test_words_are_what_the_grammar_means():
    text = 'let bn = batchnorm(momentum: 0.9)\nexperiment x extends "a.gan" {\n  critic { bn dense(1) }  # c\n}\n'
    kinds = {value: token for token, value in GanLexer().get_tokens(text) if value.strip()}
    assert kinds["let"] in Keyword and kinds["experiment"] in Keyword and kinds["critic"] in Keyword
    assert kinds["batchnorm"] in Name.Function and kinds["dense"] in Name.Function
    assert kinds["momentum"] in Name.Attribute and kinds["0.9"] in Number
    assert kinds['"a.gan"'] in String and kinds["# c"] in Comment


def test_pygments_finds_it_by_name_and_file_name():
    from pygments.lexers import get_lexer_by_name, get_lexer_for_filename

    assert isinstance(get_lexer_by_name("gan"), GanLexer)
    assert isinstance(get_lexer_for_filename("wgan_gp.gan"), GanLexer)
