"""The pre-commit hooks (.pre-commit-hooks.yaml) and the GitHub Action (action.yml): they parse, run
real `ganspec` commands, and install the core only."""

from __future__ import annotations

import re
import shlex

import pytest

from ganspec.cli import build_parser
from tests.conftest import ROOT
from tests.tooling import yaml_subset

try:
    import yaml
except ImportError:  # PyYAML is no dependency of ganspec: the subset reader stands in
    yaml = None


def _load(name: str):
    text = (ROOT / name).read_text(encoding="utf-8")
    return yaml.safe_load(text) if yaml is not None else yaml_subset.load(text)


def _commands() -> dict:
    parser = build_parser()
    (sub,) = [a for a in parser._actions if a.dest == "command"]
    return sub.choices


@pytest.mark.parametrize("name", ["action.yml", ".pre-commit-hooks.yaml"])
def test_the_subset_reader_reads_the_files_as_pyyaml_does(name):
    if yaml is None:
        pytest.skip("PyYAML is not installed: nothing to compare the subset reader with")
    text = (ROOT / name).read_text(encoding="utf-8")
    assert yaml_subset.load(text) == yaml.safe_load(text)


def test_the_subset_reader_refuses_what_it_does_not_know():
    with pytest.raises(yaml_subset.YamlSubsetError):
        yaml_subset.load("a: [1, 2]\n")
    with pytest.raises(yaml_subset.YamlSubsetError):
        yaml_subset.load("a: 1\n   b: 2\n")
    assert yaml_subset.load("- id: x  # c\n  files: \\.gan$\n- y\n") == [{"id": "x", "files": "\\.gan$"}, "y"]


def test_pre_commit_hooks_run_real_commands_on_gan_files():
    hooks = {hook["id"]: hook for hook in _load(".pre-commit-hooks.yaml")}
    assert set(hooks) == {"ganspec-validate", "ganspec-fmt"}
    assert hooks["ganspec-validate"]["entry"] == "ganspec validate"
    assert hooks["ganspec-fmt"]["entry"] == "ganspec fmt"
    commands = _commands()
    for hook in hooks.values():
        assert {"id", "name", "entry", "language"} <= set(hook)
        assert hook["language"] == "python"  # pre-commit installs this repository: the core, no extra
        program, command, *flags = shlex.split(hook["entry"])
        assert program == "ganspec" and command in commands
        pattern = re.compile(hook["files"])
        assert pattern.search("specs/wgan_gp.gan") and pattern.search("a.gan")
        assert not pattern.search("notes.gan.md") and not pattern.search("run.py")
        # pre-commit appends the staged file names: the command must take them
        args = build_parser().parse_args([*shlex.split(hook["entry"])[1:], "a.gan", "b/c.gan"])
        assert args.paths == ["a.gan", "b/c.gan"]


def test_the_action_is_a_composite_that_installs_the_core_and_validates():
    action = _load("action.yml")
    assert {"name", "description", "inputs", "runs"} <= set(action)
    inputs = action["inputs"]
    assert set(inputs) == {"paths", "version", "args"}
    assert inputs["paths"]["default"] == "specs"
    assert inputs["args"]["default"] == ""
    assert all("description" in i for i in inputs.values())
    runs = action["runs"]
    assert runs["using"] == "composite"
    steps = runs["steps"]
    setup, install, validate = steps
    assert setup["uses"].startswith("actions/setup-python@v") and str(setup["with"]["python-version"]) == "3.11"
    for step in (install, validate):
        assert step["shell"] == "bash"  # a composite action's `run` step must name its shell
        assert "uses" not in step
    # the pip spec: the `version` input, else this action's own checkout; never an extra
    env = install["env"]
    assert env == {"GANSPEC_PIP_SPEC": "${{ inputs.version }}", "GANSPEC_ACTION_PATH": "${{ github.action_path }}"}
    assert re.search(r'pip install .*"\$\{GANSPEC_PIP_SPEC:-\$GANSPEC_ACTION_PATH\}"$', install["run"])
    assert "[" not in install["run"] and "[" not in str(inputs["version"]["default"])
    # the check: annotations for GitHub, then the caller's flags and paths
    assert validate["env"] == {"GANSPEC_ARGS": "${{ inputs.args }}", "GANSPEC_PATHS": "${{ inputs.paths }}"}
    assert validate["run"] == "ganspec validate --format github $GANSPEC_ARGS $GANSPEC_PATHS"
    expressions = re.findall(r"\$\{\{\s*inputs\.([A-Za-z_-]+)\s*\}\}", str(action))
    assert set(expressions) == set(inputs), "an input no step reads, or a step reading no input"


def test_the_action_command_line_parses_with_its_defaults_and_with_args():
    run = _load("action.yml")["runs"]["steps"][2]["run"]
    for args, paths in (("", "specs"), ("--strict --exclude drafts", "specs other/a.gan")):
        line = run.replace("$GANSPEC_ARGS", args).replace("$GANSPEC_PATHS", paths)
        parsed = build_parser().parse_args(shlex.split(line)[1:])
        assert parsed.command == "validate" and parsed.format == "github"
        assert parsed.paths == paths.split()
    assert parsed.strict and parsed.exclude == ["drafts"]
