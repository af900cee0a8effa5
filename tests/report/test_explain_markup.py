"""`explain` and `diff` show the spec's text as written: brackets in values are not Rich markup (issue 14)."""

from __future__ import annotations

import pytest

from ganspec import exitcodes
from ganspec.cli import main

SPEC = """experiment markup {
  description "%s"
  tags ["mnist", "cpu"]
  data.source ring
  latent normal(2)
  generator { dense(8) relu dense(2) }
  critic { dense(8) relu dense(1) }
  objective non_saturating
}
"""
DESCRIPTION = "[bold]x[/bold] and [red]y"


@pytest.fixture(params=["plain", "colour"])
def colour(request, monkeypatch):
    """Rich renders markup the same with and without colours; both are tried."""
    if request.param == "colour":
        monkeypatch.setenv("FORCE_COLOR", "1")
        monkeypatch.setenv("COLUMNS", "200")
    else:
        monkeypatch.delenv("FORCE_COLOR", raising=False)
    return request.param


def _plain(text: str) -> str:
    import re

    return re.sub(r"\x1b\[[0-9;]*m", "", text)


def test_explain_shows_tags_and_a_description_in_brackets(tmp_path, capsys, colour):
    path = tmp_path / "brackets[1].gan"
    path.write_text(SPEC % DESCRIPTION)
    code = main(["explain", str(path)])
    out = _plain(capsys.readouterr().out)
    assert code == exitcodes.OK
    assert "tags [mnist, cpu]" in out
    assert f"description {DESCRIPTION}" in out


def test_diff_shows_values_in_brackets(tmp_path, capsys, colour):
    a = tmp_path / "a.gan"
    b = tmp_path / "b[x].gan"
    a.write_text(SPEC % "plain")
    b.write_text(SPEC % DESCRIPTION)
    code = main(["diff", "--metadata", str(a), str(b)])
    out = _plain(capsys.readouterr().out)
    assert code == exitcodes.DIFFERENT
    assert DESCRIPTION in out and "b[x].gan" in out
