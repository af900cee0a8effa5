"""`ganspec completion bash|zsh`: scripts written from the argument parser, run for real: bash's
completion function is called as bash calls it (COMP_WORDS, COMP_CWORD) and its COMPREPLY read;
zsh's completion system is driven in a pseudo-terminal (tests/tooling/zsh_complete.zsh)."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest

from ganspec import exitcodes
from ganspec.cli import build_parser, main
from ganspec.commands.completion import bash_script, commands, zsh_script

HERE = Path(__file__).parent
# zsh is a system tool, not a Python dependency; without it the script's structure is still checked
needs_zsh = pytest.mark.skipif(shutil.which("zsh") is None, reason="zsh is not installed")


def _parser_commands(parser=None) -> list[str]:
    parser = parser or build_parser()
    (sub,) = [a for a in parser._actions if a.dest == "command"]
    return list(sub.choices)


@pytest.fixture
def folder(tmp_path, monkeypatch):
    """The working folder: a spec, a text file, a subfolder with a spec, and a run directory."""
    work = tmp_path / "work"
    (work / "specs").mkdir(parents=True)
    (work / "a.gan").write_text("")
    (work / "notes.txt").write_text("")
    (work / "specs" / "b.gan").write_text("")
    (work / "runs" / "ring-1").mkdir(parents=True)
    monkeypatch.chdir(work)
    return work


def test_the_command_prints_the_scripts(capsys):
    assert main(["completion", "bash"]) == exitcodes.OK
    assert capsys.readouterr().out == bash_script(build_parser())
    assert main(["completion", "zsh"]) == exitcodes.OK
    assert capsys.readouterr().out == zsh_script(build_parser())
    with pytest.raises(SystemExit) as raised:
        main(["completion", "fish"])
    assert raised.value.code == 2


def test_the_commands_are_the_parsers():
    names = _parser_commands()
    assert [c.name for c in commands(build_parser())] == names
    assert {"validate", "fmt", "run", "sample", "completion"} <= set(names)
    bash = bash_script(build_parser())
    table = bash.split("_ganspec_subcommands() {", 1)[1].split("\n}", 1)[0]
    (listed,) = re.findall(r"^\s+''\) echo '([^']*)' ;;$", table, flags=re.M)  # the row of `ganspec` itself
    assert listed.split() == names
    zsh = zsh_script(build_parser())
    block = zsh.split("commands=(", 1)[1].split(")\n", 1)[0]
    assert re.findall(r"^\s+'([a-z-]+):", block, flags=re.M) == names


def test_what_each_argument_completes_to_is_read_from_the_parser():
    found = {c.name: c for c in commands(build_parser())}
    validate = {f: o for o in found["validate"].options for f in o.flags}
    assert validate["--format"].kind == "choices" and validate["--format"].choices == ("human", "json", "github")
    assert validate["--strict"].kind == "flag" and validate["--exclude"].kind == "none"
    assert [p.kind for p in found["validate"].positionals] == ["gan"] and found["validate"].positionals[0].many
    assert [p.kind for p in found["diff"].positionals] == ["gan", "gan"]
    run = {f: o for o in found["run"].options for f in o.flags}
    assert run["--resume"].kind == "dir" and run["--out"].kind == "dir" and run["--set"].kind == "none"
    assert run["--backend"].choices == ("tensorflow", "jax")
    assert found["run"].positionals[0].optional
    assert [p.kind for p in found["sample"].positionals] == ["dir"]
    assert [p.kind for p in found["compare"].positionals] == ["dir"]
    assert {f: o.kind for o in found["sample"].options for f in o.flags}["--output"] == "file"


# ---- bash, for real -----------------------------------------------------------------------------

BASH_DRIVER = r'''
source "$1"; shift
COMP_WORDS=("$@")
COMP_CWORD=$(( ${#COMP_WORDS[@]} - 1 ))
COMP_LINE="$*"
COMP_POINT=${#COMP_LINE}
_ganspec ganspec "${COMP_WORDS[COMP_CWORD]}" "${COMP_WORDS[COMP_CWORD-1]}"
printf '%s\n' "${COMPREPLY[@]}"
'''


def bash_complete(script: Path, *words: str) -> list[str]:
    """COMPREPLY for a command line whose last word is being completed."""
    done = subprocess.run(["bash", "--norc", "--noprofile", "-c", BASH_DRIVER, "driver", str(script), *words],
                          capture_output=True, text=True, timeout=60, check=True)
    return [line for line in done.stdout.splitlines() if line]


def bash_files(script: Path, *words: str) -> list[str]:
    """The file and folder names bash would offer, sorted as bash shows them."""
    return sorted(bash_complete(script, *words))


@pytest.fixture
def bash(tmp_path):
    script = tmp_path / "ganspec.bash"
    script.write_text(bash_script(build_parser()))
    return script


def test_the_bash_script_parses(bash):
    subprocess.run(["bash", "-n", str(bash)], check=True, timeout=60)


def test_bash_completes_commands_options_and_choices(bash, folder):
    assert bash_complete(bash, "ganspec", "val") == ["validate"]
    assert bash_complete(bash, "ganspec", "") == _parser_commands()
    assert bash_complete(bash, "ganspec", "-") == ["-h", "--help", "--version"]
    assert bash_complete(bash, "ganspec", "validate", "--for") == ["--format"]
    assert bash_complete(bash, "ganspec", "validate", "--format", "") == ["human", "json", "github"]
    assert bash_complete(bash, "ganspec", "validate", "--format", "=", "j") == ["json"]  # --format=j
    assert bash_complete(bash, "ganspec", "validate", "--format", "=") == ["human", "json", "github"]
    assert bash_complete(bash, "ganspec", "diff", "--format", "") == ["human", "json"]
    assert bash_complete(bash, "ganspec", "run", "--backend", "") == ["tensorflow", "jax"]
    assert bash_complete(bash, "ganspec", "completion", "") == ["bash", "zsh"]
    assert bash_complete(bash, "ganspec", "validate", "--no-") == ["--no-ignore"]
    assert bash_complete(bash, "ganspec", "run", "--set", "") == []  # a value to type, no file


def test_bash_completes_specs_folders_and_run_directories(bash, folder):
    assert bash_files(bash, "ganspec", "validate", "") == ["a.gan", "runs", "specs"]  # notes.txt left out
    assert bash_files(bash, "ganspec", "validate", "--strict", "a.gan", "specs/") == ["specs/b.gan"]
    assert bash_files(bash, "ganspec", "diff", "a.gan", "") == ["a.gan", "runs", "specs"]
    assert bash_files(bash, "ganspec", "diff", "a.gan", "a.gan", "") == []  # diff takes two
    assert bash_files(bash, "ganspec", "diff", "--format", "json", "a.gan", "") == ["a.gan", "runs", "specs"]
    assert bash_files(bash, "ganspec", "sample", "") == ["runs", "specs"]
    assert bash_files(bash, "ganspec", "sample", "runs/") == ["runs/ring-1"]
    assert bash_files(bash, "ganspec", "run", "--resume", "r") == ["runs"]
    assert bash_files(bash, "ganspec", "run", "--plugin", "n") == ["notes.txt"]
    assert bash_files(bash, "ganspec", "validate", "n") == ["notes.txt"]  # no spec matches: any file


def _grown_parser():
    """ganspec's parser with a command added later, which has subcommands of its own."""
    parser = build_parser()
    (sub,) = [a for a in parser._actions if a.dest == "command"]
    p = sub.add_parser("frobnicate", help="a command added later")
    p.add_argument("--level", choices=("low", "high"))
    p.add_argument("spec")
    q = sub.add_parser("cache", help="nested commands")
    actions = q.add_subparsers(dest="cache_command", required=True)
    actions.add_parser("clear", help="empty it").add_argument("--older-than", metavar="DAYS")
    actions.add_parser("show", help="list it").add_argument("run_dir")
    return parser


def test_a_new_subcommand_completes_without_an_edit(tmp_path, folder):
    parser = _grown_parser()
    script = tmp_path / "new.bash"
    script.write_text(bash_script(parser))
    assert bash_complete(script, "ganspec", "f") == ["fmt", "frobnicate"]
    assert bash_complete(script, "ganspec", "frobnicate", "--level", "") == ["low", "high"]
    assert bash_files(script, "ganspec", "frobnicate", "") == ["a.gan", "runs", "specs"]
    assert bash_complete(script, "ganspec", "cache", "") == ["clear", "show"]
    assert bash_complete(script, "ganspec", "cache", "clear", "--") == ["--help", "--older-than"]
    assert bash_files(script, "ganspec", "cache", "show", "") == ["runs", "specs"]
    assert "'frobnicate:a command added later'" in zsh_script(parser)


# ---- zsh ----------------------------------------------------------------------------------------


def test_the_zsh_script_has_the_shape_of_a_completion_function():
    script = zsh_script(build_parser())
    assert script.startswith("#compdef ganspec\n")
    assert "_ganspec() {" in script and "compdef _ganspec ganspec" in script
    assert "'--format=:format:(human json github)'" in script
    assert "'*:path:_files -g \"*.gan(-.)\"'" in script
    assert "'--resume=[continue a run from its latest checkpoint]:run dir:_files -/'" in script


@needs_zsh
def test_the_zsh_script_parses(tmp_path):
    script = tmp_path / "_ganspec"
    script.write_text(zsh_script(build_parser()))
    subprocess.run(["zsh", "-n", str(script)], check=True, timeout=60)


def zsh_complete(script: Path, mode: str, line: str) -> list[str]:
    done = subprocess.run(["zsh", "-f", str(HERE / "zsh_complete.zsh"), str(script), mode, line],
                          capture_output=True, text=True, timeout=60, check=True)
    return done.stdout.split()


@needs_zsh
def test_zsh_completes_for_real(tmp_path, folder):
    script = tmp_path / "fpath" / "_ganspec"
    script.parent.mkdir()
    script.write_text(zsh_script(build_parser()))
    assert zsh_complete(script, "source", "ganspec val") == ["validate"]
    assert zsh_complete(script, "source", "ganspec validate --format ") == ["github", "human", "json"]
    assert zsh_complete(script, "fpath", "ganspec validate --for") == ["--format"]
    assert zsh_complete(script, "fpath", "ganspec validate ") == ["a.gan", "runs", "specs"]
    assert zsh_complete(script, "source", "ganspec sample ") == ["runs", "specs"]


@needs_zsh
def test_zsh_completes_nested_subcommands(tmp_path, folder):
    script = tmp_path / "_ganspec"
    script.write_text(zsh_script(_grown_parser()))
    subprocess.run(["zsh", "-n", str(script)], check=True, timeout=60)
    assert zsh_complete(script, "source", "ganspec cache ") == ["clear", "show"]
    assert zsh_complete(script, "source", "ganspec cache clear --o") == ["--older-than"]
    assert zsh_complete(script, "source", "ganspec frobnicate --level ") == ["high", "low"]
