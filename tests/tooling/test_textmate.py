"""The VS Code extension in editors/vscode: its JSON loads, its regexes compile, package.json points at
files that exist, and its TextMate grammar agrees with the Pygments lexer (ganspec/syntax/lexer.py)
and grammar/gan.lark: every keyword of one is a keyword of the other, the experiment's sections are
the IR's, and on every spec in the repository the grammar gives each comment, string, number,
keyword, call and argument name the same kind of scope as the lexer."""

from __future__ import annotations

import functools
import json
import re

import pytest
from pygments.lexer import words
from pygments.token import Comment, Keyword, Name, Number, String

from ganspec.syntax.lexer import GanLexer
from tests.conftest import ROOT, all_spec_files

try:  # Oniguruma, which VS Code runs, is closer to `regex`; the patterns keep to what both read alike
    import regex as rx
except ImportError:  # pragma: no cover - `re` reads the common subset the grammar keeps to
    rx = re

VSCODE = ROOT / "editors" / "vscode"
GRAMMAR_FILE = VSCODE / "syntaxes" / "gan.tmLanguage.json"


def _load(path):
    return json.loads(path.read_text(encoding="utf-8"))


@functools.lru_cache(maxsize=None)
def _grammar() -> dict:
    return _load(GRAMMAR_FILE)


@functools.lru_cache(maxsize=None)
def _compile(pattern: str):
    return rx.compile(pattern)


# ---- a small TextMate tokenizer: enough of the algorithm for a grammar of one-line rules ------


def _rules(patterns: list[dict], grammar: dict) -> list[dict]:
    """The rules of `patterns` in order, with `include`s replaced by the rules they name."""
    out = []
    for rule in patterns:
        if "include" in rule:
            target = grammar["repository"][rule["include"].lstrip("#")]
            group = "match" not in target and "begin" not in target  # a list of rules, not a rule
            out += _rules(target["patterns"] if group else [target], grammar)
        else:
            out.append(rule)
    return out


def _first(rules: list[dict], line: str, pos: int):
    """The rule whose match starts first at or after `pos` (the earlier rule on a tie), and its match."""
    best = None
    for rule in rules:
        found = _compile(rule.get("match") or rule["begin"]).search(line, pos)
        if found and found.end() > found.start() and (best is None or found.start() < best[1].start()):
            best = (rule, found)
    return best


def _paint(scopes: list[str | None], found, name: str | None, captures: dict) -> None:
    for i in range(found.start(), found.end()):
        scopes[i] = name
    for group, capture in captures.items():
        if found.group(int(group)) is not None and capture.get("name"):
            for i in range(found.start(int(group)), found.end(int(group))):
                scopes[i] = capture["name"]


def scopes_of(line: str, grammar: dict | None = None) -> list[str | None]:
    """The innermost scope of each character of one line (None where no rule matched)."""
    grammar = grammar or _grammar()
    rules = _rules(grammar["patterns"], grammar)
    scopes: list[str | None] = [None] * len(line)
    pos = 0
    while pos < len(line):
        best = _first(rules, line, pos)
        if best is None:
            break
        rule, found = best
        _paint(scopes, found, rule.get("name"), rule.get("captures", {}) | rule.get("beginCaptures", {}))
        pos = found.end()
        if "begin" in rule:  # inside: the end pattern against the rule's own patterns, the end first on a tie
            inner = _rules(rule.get("patterns", []), grammar)
            while True:
                end = _compile(rule["end"]).search(line, pos)
                step = _first(inner, line, pos)
                if step is not None and (end is None or step[1].start() < end.start()):
                    for i in range(pos, step[1].end()):
                        scopes[i] = rule.get("name")
                    _paint(scopes, step[1], step[0].get("name"), step[0].get("captures", {}))
                    pos = step[1].end()
                    continue
                stop = end.end() if end is not None else len(line)
                for i in range(pos, stop):
                    scopes[i] = rule.get("name")
                if end is not None:
                    _paint(scopes, end, rule.get("name"), rule.get("endCaptures", {}))
                pos = stop
                break
    return scopes


def scope_of_word(text: str, word: str) -> str | None:
    """The scope of the first `word` in `text` (the scope of its first character)."""
    return scopes_of(text)[re.search(rf"\b{re.escape(word)}\b", text).start()]


# ---- what the lexer and the Lark grammar say ------------------------------------------------


def lexer_words() -> dict[str, object]:
    """Every word the Pygments lexer lists in a `words(...)` rule, with its token type."""
    out = {}
    for rule in GanLexer.tokens["root"]:
        if isinstance(rule[0], words):
            for word in rule[0].words:
                out[word] = rule[1]
    return out


def lark_keywords() -> set[str]:
    """The words that grammar/gan.lark spells out in quotes: the language's reserved words."""
    text = (ROOT / "grammar" / "gan.lark").read_text(encoding="utf-8")
    text = "\n".join(line.split("//", 1)[0] for line in text.splitlines())
    return set(re.findall(r'"([A-Za-z_][A-Za-z0-9_]*)"', text))


def grammar_keywords() -> set[str]:
    """The words the TextMate grammar lists in alternations scoped as keywords or language constants."""
    found = set()

    def visit(node):
        if isinstance(node, dict):
            pattern, name = node.get("match"), node.get("name", "")
            if pattern and name.split(".")[0] in ("keyword", "storage", "constant"):
                for group in re.findall(r"\\b\(([A-Za-z_|]+)\)\\b", pattern):
                    found.update(group.split("|"))
            for value in node.values():
                visit(value)
        elif isinstance(node, list):
            for value in node:
                visit(value)

    visit(_grammar()["repository"])
    return found


def section_names() -> set[str]:
    """The experiment's top-level settings: the IR's fields and their repeatable singular spellings."""
    from ganspec.ir.spec import Spec
    from ganspec.resolve.evaluate import REPEATABLE, ROLE_KEYS

    return (set(Spec.model_fields) - {"name"} - set(ROLE_KEYS)) | set(REPEATABLE)


def _family(token) -> tuple[str, ...]:
    """The TextMate scope prefixes that say the same as a Pygments token type."""
    if token in Keyword.Constant:
        return ("constant.language.",)
    if token in Keyword:
        return ("storage.type.", "keyword.")
    return ()


# ---- the files ----------------------------------------------------------------------------


def test_the_json_files_load_and_package_json_points_at_files_that_exist():
    package = _load(VSCODE / "package.json")
    configuration = _load(VSCODE / "language-configuration.json")
    (language,) = package["contributes"]["languages"]
    (grammar_entry,) = package["contributes"]["grammars"]
    assert (VSCODE / language["configuration"]).resolve() == (VSCODE / "language-configuration.json").resolve()
    assert (VSCODE / grammar_entry["path"]).resolve() == GRAMMAR_FILE.resolve()
    assert grammar_entry["language"] == language["id"]
    assert grammar_entry["scopeName"] == _grammar()["scopeName"] == "source.gan"
    assert language["extensions"] == [name.lstrip("*") for name in GanLexer.filenames]
    assert set(GanLexer.aliases) <= set(language["aliases"]) | {language["id"]}
    assert configuration["comments"] == {"lineComment": "#"}
    assert configuration["brackets"] == [["{", "}"], ["[", "]"], ["(", ")"]]
    closing = {(pair["open"], pair["close"]) for pair in configuration["autoClosingPairs"]}
    assert closing == {("{", "}"), ("[", "]"), ("(", ")"), ('"', '"')}
    assert (VSCODE / "README.md").read_text(encoding="utf-8").startswith("# ganspec for VS Code")


def _patterns(node):
    if isinstance(node, dict):
        for key, value in node.items():
            if key in ("match", "begin", "end", "while") and isinstance(value, str):
                yield value
            else:
                yield from _patterns(value)
    elif isinstance(node, list):
        for value in node:
            yield from _patterns(value)


def test_every_regex_compiles():
    patterns = list(_patterns(_grammar()))
    configuration = _load(VSCODE / "language-configuration.json")
    patterns += [configuration["wordPattern"], *configuration["indentationRules"].values()]
    assert len(patterns) > 20
    for pattern in patterns:
        rx.compile(pattern)
        re.compile(pattern)  # both engines: the patterns keep to the subset they share


def test_every_include_names_a_rule():
    grammar = _grammar()
    includes = re.findall(r'"include": "#([^"]+)"', json.dumps(grammar))
    assert includes and set(includes) <= set(grammar["repository"])
    assert set(grammar["repository"]) - set(includes) == set(), "a rule nothing includes"


# ---- keywords: the lexer, the Lark grammar and the TextMate grammar agree --------------------


def test_every_keyword_of_the_lexer_is_a_keyword_of_the_textmate_grammar():
    known = lexer_words()
    assert {"let", "block", "extends", "experiment", "repeat", "critic", "true"} <= set(known)
    for word, token in known.items():
        scope = scope_of_word(word, word) or ""
        assert scope.startswith(_family(token)), f"{word}: the lexer says {token}, the TextMate grammar {scope!r}"


def test_every_keyword_of_the_textmate_grammar_is_known_to_the_lexer_and_the_lark_grammar():
    known = lexer_words()
    assert grammar_keywords() == set(known), "keywords the TextMate grammar and the lexer do not share"
    assert lark_keywords() <= set(known), "a reserved word of grammar/gan.lark the lexer does not know"
    for word in lark_keywords():
        assert known[word] in Keyword and known[word] not in Keyword.Constant


def test_the_sections_are_the_experiments_settings():
    pattern = _grammar()["repository"]["section"]["match"]
    (alternation,) = re.findall(r"\\b\(([A-Za-z_|]+)\)\\b", pattern)
    assert set(alternation.split("|")) == section_names()
    for name in section_names():
        assert scope_of_word(f"  {name} 1", name).startswith("support.type.property-name.section")
    # a section's word used as an argument name or a call is not a section
    assert scope_of_word("fid(data: 1)", "data") == "variable.parameter.gan"
    assert scope_of_word("x train(1)", "train") == "entity.name.function.gan"


@pytest.mark.parametrize(("text", "word", "scope"), [
    ("let width = 64", "width", "variable.other.definition.gan"),
    ("let width = 64", "=", "keyword.operator.assignment.gan"),
    ('experiment child extends "parent.gan" {', "child", "entity.name.type.experiment.gan"),
    ('experiment child extends "parent.gan" {', "extends", "keyword.other.extends.gan"),
    ("block gblock(channels, up: 2) { relu }", "gblock", "entity.name.function.block.gan"),
    ("block gblock(channels, up: 2) { relu }", "up", "variable.parameter.gan"),
    ("repeat 3 { conv(64) }", "repeat", "keyword.control.repeat.gan"),
    ("optimizer.critic adam(lr: 1e-4)", "critic", "variable.other.property.gan"),
    ("optimizer.critic adam(lr: 1e-4)", "adam", "entity.name.function.gan"),
    ("optimizer.critic adam(lr: 1e-4)", "lr", "variable.parameter.gan"),
    ("critic(pack: 2) { dense(1) }", "critic", "storage.type.network.gan"),
    ("cache false", "false", "constant.language.gan"),
    ("seed 0 # a comment", "#", "punctuation.definition.comment.gan"),
    ("seed 0 # a comment", "a", "comment.line.number-sign.gan"),
])
def test_words_get_the_scope_the_grammar_means(text, word, scope):
    start = text.index(word) if not word.isidentifier() else re.search(rf"\b{word}\b", text).start()
    assert scopes_of(text)[start] == scope


@pytest.mark.parametrize("number", ["64", "0.5", ".5", "1_000", "20_000", "1e-4", "2.5E+3", "5e-5", "1."])
def test_numbers_are_whole_numbers(number):
    scopes = scopes_of(f"lr {number} ")
    assert scopes[3:3 + len(number)] == ["constant.numeric.gan"] * len(number)


def test_powers_are_a_number_an_operator_and_a_number():
    assert scopes_of("2**10") == ["constant.numeric.gan"] + ["keyword.operator.arithmetic.power.gan"] * 2 \
        + ["constant.numeric.gan"] * 2
    assert scopes_of("conv1")[4] != "constant.numeric.gan"  # a digit inside a name is part of the name


def test_strings_hold_their_escapes_and_end_at_the_line():
    text = r'source "a \"b\" \\ c" 1'
    scopes = scopes_of(text)
    closing = len(text) - 3
    assert set(scopes[7:closing + 1]) <= {"string.quoted.double.gan", "constant.character.escape.gan",
                                         "punctuation.definition.string.begin.gan",
                                         "punctuation.definition.string.end.gan"}
    assert scopes[text.index(r"\"")] == "constant.character.escape.gan"
    assert scopes[-1] == "constant.numeric.gan"
    assert scopes_of('"open # not a comment')[-1] == "string.quoted.double.gan"


# ---- every spec in the repository: the grammar and the lexer see the same kinds of words ------


def _sources():
    files = list(all_spec_files()) + sorted((ROOT / "tests" / "golden").rglob("*.gan"))
    return [path for path in files if "not_utf8" not in path.name]


def _expected(token) -> tuple[str, ...]:
    """The scope prefixes allowed where the lexer gives `token`."""
    if token in Comment:
        return ("comment.", "punctuation.definition.comment.")
    if token in String:
        return ("string.", "constant.character.escape.", "punctuation.definition.string.")
    if token in Number:
        return ("constant.numeric.",)
    if token in Name.Function:
        return ("entity.name.function.", "storage.type.network.")
    if token in Name.Attribute:
        return ("variable.parameter.",)
    if token in Keyword.Declaration:  # a network's name is an ordinary key after a dot or before a colon
        return ("storage.type.network.", "variable.other.property.", "variable.parameter.")
    return _family(token)


def test_on_every_spec_the_grammar_and_the_lexer_agree():
    sources = _sources()
    assert len(sources) > 50
    checked = 0
    for path in sources:
        text = path.read_text(encoding="utf-8").replace("\r\n", "\n")
        scopes = [s for line in text.split("\n") for s in scopes_of(line) + [None]]
        for start, token, value in GanLexer().get_tokens_unprocessed(text):
            allowed = _expected(token)
            if not allowed or not value.strip():
                continue
            for at in range(start, start + len(value.rstrip())):  # every character of the word, not only its first
                scope = scopes[at] or ""
                assert scope.startswith(allowed), (f"{path.relative_to(ROOT)}:{text[:start].count(chr(10)) + 1}: "
                                                   f"{value!r} is {token} to the lexer, {scope!r} to the grammar")
            checked += 1
    assert checked > 1000
