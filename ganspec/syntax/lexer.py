"""A Pygments lexer for .gan files, so that Sphinx, MkDocs and Rich highlight specs.

Registered under the `pygments.lexers` entry point (pyproject.toml): with ganspec installed,
```gan fences and `pygmentize -l gan` work. It follows grammar/gan.lark: keywords, `# comments`,
strings, numbers, calls (`conv(64, kernel: 3)`), argument names (`kernel:`), and dotted setting
paths. Pygments comes with Rich, so the core install has it.
"""

from __future__ import annotations

from pygments.lexer import RegexLexer, bygroups, words
from pygments.token import Comment, Keyword, Name, Number, Operator, Punctuation, String, Text, Whitespace

KEYWORDS = ("experiment", "extends", "let", "block", "repeat")
NETWORKS = ("generator", "critic", "discriminator")
CONSTANTS = ("true", "false", "none")


class GanLexer(RegexLexer):
    """The ganspec experiment language (.gan)."""

    name = "ganspec"
    aliases = ["gan", "ganspec"]
    filenames = ["*.gan"]
    mimetypes = ["text/x-ganspec"]

    tokens = {
        "root": [
            (r"[ \t\r\n]+", Whitespace),
            (r"#[^\n]*", Comment.Single),
            (r'"([^"\\\n]|\\.)*"', String.Double),
            (words(KEYWORDS, suffix=r"\b"), Keyword),
            (words(NETWORKS, suffix=r"\b"), Keyword.Declaration),
            (words(CONSTANTS, suffix=r"\b"), Keyword.Constant),
            (r"(\d[\d_]*(\.[\d_]*)?|\.\d[\d_]*)([eE][+-]?\d+)?", Number),
            (r"([A-Za-z_][A-Za-z0-9_]*)(\s*)(:)", bygroups(Name.Attribute, Whitespace, Punctuation)),
            (r"[A-Za-z_][A-Za-z0-9_]*(?=\s*\()", Name.Function),
            (r"[A-Za-z_][A-Za-z0-9_]*", Name),
            (r"\*\*|[+\-*/=]", Operator),
            (r"[{}()\[\],.]", Punctuation),
            (r".", Text),
        ],
    }
