"""Folder walks (ganspec.commands.inputs): what git ignores is skipped, as git decides it (nested
.gitignore files, negations, tracked files); files named outright are always taken; `--no-ignore`
takes everything; without git, or outside a work tree, nothing is filtered. And `validate` of a
folder without specs is an error that says so, not a pass."""

from __future__ import annotations

import json
import shutil
import subprocess

import pytest

from ganspec import exitcodes
from ganspec.cli import main
from ganspec.commands.inputs import collect_spec_paths

GOOD = """experiment good {
  data {
    source ring
  }
  latent normal(2)
  generator {
    dense(16) relu dense(2)
  }
  critic {
    dense(16) relu dense(1)
  }
  objective non_saturating
}
"""  # formatted as `ganspec fmt` writes it
BROKEN = "experiment broken {\n"  # a syntax error: validate fails if it checks this file

# git is a system tool, not a Python dependency: without it the walk filters nothing (tested below)
needs_git = pytest.mark.skipif(shutil.which("git") is None, reason="git is not installed")


def run(capsys, *argv):
    code = main(list(argv))
    out = capsys.readouterr()
    return code, out.out, out.err


def _git(repo, *args):
    subprocess.run(["git", *args], cwd=repo, check=True, capture_output=True)


@pytest.fixture
def repo(tmp_path, monkeypatch):
    """A git work tree: specs to take, specs that .gitignore files ignore (all broken), one re-included
    by a negation, one tracked although its folder is ignored."""
    # the machine's git configuration (a global excludes file) must not change what is ignored here
    empty = tmp_path / "gitconfig"
    empty.write_text("")
    monkeypatch.setenv("GIT_CONFIG_GLOBAL", str(empty))
    monkeypatch.setenv("GIT_CONFIG_NOSYSTEM", "1")
    root = tmp_path / "repo"
    root.mkdir()
    _git(root, "init", "-q")
    (root / ".gitignore").write_text("ignored/\n*.tmp.gan\n!keep.tmp.gan\nvendor/\n")
    files = {
        "a.gan": GOOD, "keep.tmp.gan": GOOD, "sub/d.gan": GOOD, "vendor/tracked.gan": GOOD,
        "b.tmp.gan": BROKEN, "ignored/c.gan": BROKEN, "ignored/deep/e.gan": BROKEN,
        "sub/local.gan": BROKEN, "sub/f.tmp.gan": BROKEN, "vendor/untracked.gan": BROKEN,
    }
    for name, text in files.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(text)
    (root / "sub" / ".gitignore").write_text("local.gan\n")  # a nested .gitignore
    _git(root, "add", "-f", "vendor/tracked.gan")  # tracked: git does not ignore it, its folder rule aside
    return root


def _names(paths, root):
    return sorted(p.relative_to(root).as_posix() for p in paths)


TAKEN = ["a.gan", "keep.tmp.gan", "sub/d.gan", "vendor/tracked.gan"]
EVERYTHING = sorted(TAKEN + ["b.tmp.gan", "ignored/c.gan", "ignored/deep/e.gan", "sub/f.tmp.gan", "sub/local.gan",
                             "vendor/untracked.gan"])


@needs_git
def test_a_walk_skips_what_git_ignores(repo):
    assert _names(collect_spec_paths([str(repo)]), repo) == TAKEN
    assert _names(collect_spec_paths([str(repo)], git_ignore=False), repo) == EVERYTHING


@needs_git
def test_a_walk_of_a_subfolder_applies_the_rules_above_and_inside_it(repo):
    assert _names(collect_spec_paths([str(repo / "sub")]), repo) == ["sub/d.gan"]
    assert _names(collect_spec_paths([str(repo / "vendor")]), repo) == ["vendor/tracked.gan"]


@needs_git
def test_relative_paths_walk_alike(repo, monkeypatch):
    monkeypatch.chdir(repo)
    assert sorted(p.as_posix() for p in collect_spec_paths(["."])) == TAKEN
    monkeypatch.chdir(repo / "sub")
    assert [p.as_posix() for p in collect_spec_paths([".", "../a.gan"])] == ["d.gan", "../a.gan"]


@needs_git
def test_files_named_outright_are_always_taken(repo):
    named = [str(repo / "b.tmp.gan"), str(repo / "ignored" / "c.gan")]
    assert collect_spec_paths(named) == [repo / "b.tmp.gan", repo / "ignored" / "c.gan"]


@needs_git
def test_a_folder_git_ignores_as_a_whole_is_walked_when_named(repo):
    assert _names(collect_spec_paths([str(repo / "ignored")]), repo) == ["ignored/c.gan", "ignored/deep/e.gan"]
    assert _names(collect_spec_paths([str(repo / "ignored" / "deep")]), repo) == ["ignored/deep/e.gan"]


@needs_git
def test_exclude_patterns_still_apply(repo):
    assert _names(collect_spec_paths([str(repo)], ["sub"]), repo) == ["a.gan", "keep.tmp.gan", "vendor/tracked.gan"]


def test_without_a_work_tree_nothing_is_filtered(tmp_path):
    (tmp_path / ".gitignore").write_text("*.gan\n")  # not a repository: git's rules do not apply
    (tmp_path / "a.gan").write_text(GOOD)
    assert collect_spec_paths([str(tmp_path)]) == [tmp_path / "a.gan"]


@needs_git
def test_without_git_nothing_is_filtered(repo, monkeypatch):
    monkeypatch.setenv("PATH", str(repo / "no-such-bin"))
    assert _names(collect_spec_paths([str(repo)]), repo) == EVERYTHING


@needs_git
def test_validate_and_fmt_skip_ignored_specs_unless_told(repo, capsys):
    code, out, _ = run(capsys, "validate", str(repo))
    assert code == exitcodes.OK, out
    assert "4 file(s) checked" in out
    code, out, _ = run(capsys, "validate", "--no-ignore", str(repo))
    assert code == exitcodes.INVALID and "10 file(s) checked" in out and "6 invalid" in out
    code, out, _ = run(capsys, "validate", str(repo), str(repo / "b.tmp.gan"))  # named: checked
    assert code == exitcodes.INVALID and "5 file(s) checked" in out
    code, _, err = run(capsys, "fmt", "--check", str(repo))
    assert code == exitcodes.OK, err
    code, _, err = run(capsys, "fmt", "--check", "--no-ignore", str(repo))
    assert code == exitcodes.INVALID and "b.tmp.gan" in err


# ---- validate of a folder that holds no spec -------------------------------------------------


def test_validate_of_an_empty_folder_is_a_usage_error_that_says_so(tmp_path, capsys):
    code, out, err = run(capsys, "validate", str(tmp_path))
    assert code == exitcodes.INVALID
    assert f"error[E500] bad-usage: no .gan files found under {tmp_path}" in out
    assert "checked" not in out and "ok" not in out.split()  # no summary claiming files were checked


def test_validate_of_an_empty_folder_in_json_and_for_github(tmp_path, capsys):
    code, out, _ = run(capsys, "validate", "--format", "json", str(tmp_path))
    document = json.loads(out)
    assert code == exitcodes.INVALID
    assert document["files"] == [] and document["summary"] == {"files": 0, "errors": 1, "warnings": 0}
    (diag,) = document["diagnostics"]
    assert (diag["code"], diag["severity"]) == ("E500", "error") and str(tmp_path) in diag["message"]
    code, out, _ = run(capsys, "validate", "--format", "github", "-q", str(tmp_path))
    assert code == exitcodes.INVALID
    assert out.splitlines() == [f"::error title=E500 bad-usage::no .gan files found under {tmp_path} "
                                f"(hint: {diag['hint']})", "ganspec: 0 file(s), 1 error(s), 0 warning(s)"]


@needs_git
def test_a_folder_whose_specs_are_all_ignored_points_at_no_ignore(repo, capsys):
    (repo / "drafts").mkdir()
    (repo / "drafts" / "x.tmp.gan").write_text(GOOD)
    code, out, _ = run(capsys, "validate", str(repo / "drafts"))
    assert code == exitcodes.INVALID and "no .gan files found under" in out and "--no-ignore" in out
    code, out, _ = run(capsys, "validate", "--no-ignore", str(repo / "drafts"))
    assert code == exitcodes.OK and "1 file(s) checked" in out


def test_one_empty_folder_beside_specs_is_no_error(tmp_path, capsys):
    (tmp_path / "specs").mkdir()
    (tmp_path / "specs" / "a.gan").write_text(GOOD)
    (tmp_path / "empty").mkdir()
    code, out, _ = run(capsys, "validate", str(tmp_path / "specs"), str(tmp_path / "empty"))
    assert code == exitcodes.OK and "1 file(s) checked" in out
