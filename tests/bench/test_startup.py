"""What makes `ganspec validate` start fast (bench/validate_speed.py) keeps what it does.

No timings here: these check that each shortcut gives the answer the long way gives. The grammar
cache has its own tests (tests/syntax/test_grammar_cache.py)."""

from __future__ import annotations

import gc
import importlib.machinery
import importlib.metadata
import io
import os
import random
import subprocess
import sys
import zipfile

import pytest
from rich.console import Console
from rich.text import Text

from ganspec import plugins
from ganspec.commands.language import _spare_the_collector
from ganspec.report.diagnostics import _highlighted, _unhighlighted
from tests.conftest import ROOT

# ---- installed plugins: the quick look for the entry-point group ------------------------------


def _distribution(site, name: str, entry_points: str | None) -> None:
    info = site / f"{name}-1.0.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {name}\nVersion: 1.0\n")
    if entry_points is not None:
        (info / "entry_points.txt").write_text(entry_points)


def _declared() -> list[str]:
    return sorted(ep.name for ep in importlib.metadata.entry_points(group=plugins.ENTRY_POINT_GROUP))


@pytest.fixture
def only(monkeypatch, tmp_path):
    """sys.path holding only the given folders (importlib.metadata looks nowhere else)."""
    monkeypatch.chdir(tmp_path)

    def use(*folders):
        monkeypatch.setattr(sys, "path", [str(f) for f in folders])

    return use


def test_no_distribution_declaring_the_group_means_no_scan(tmp_path, only):
    site = tmp_path / "site"
    _distribution(site, "console_tool", "[console_scripts]\ntool = tool:main\n")
    _distribution(site, "other_plugin", "[other.plugins]\nx = other:register\n")
    _distribution(site, "no_entry_points", None)
    only(site, tmp_path / "missing-folder")
    assert _declared() == []
    assert plugins._may_declare_entry_points() is False
    assert plugins._entry_points() == []


def test_a_distribution_declaring_the_group_is_found(tmp_path, only):
    site = tmp_path / "site"
    _distribution(site, "console_tool", "[console_scripts]\ntool = tool:main\n")
    _distribution(site, "gan_extras", f"[{plugins.ENTRY_POINT_GROUP}]\nextras = gan_extras\n")
    only(site)
    assert _declared() == ["extras"]
    assert plugins._may_declare_entry_points() is True
    assert [ep.name for ep in plugins._entry_points()] == ["extras"]


def test_the_current_folder_is_looked_in_for_an_empty_path_entry(tmp_path, only):
    _distribution(tmp_path, "here", f"[{plugins.ENTRY_POINT_GROUP}]\nhere = here\n")  # tmp_path is the cwd
    only("")
    assert _declared() == ["here"]
    assert plugins._may_declare_entry_points() is True


def test_a_zip_on_the_path_leaves_the_answer_to_importlib_metadata(tmp_path, only):
    archive = tmp_path / "bundle.zip"
    with zipfile.ZipFile(archive, "w") as bundle:
        bundle.writestr("zipped-1.0.dist-info/METADATA", "Metadata-Version: 2.1\nName: zipped\nVersion: 1.0\n")
        bundle.writestr("zipped-1.0.dist-info/entry_points.txt", f"[{plugins.ENTRY_POINT_GROUP}]\nz = zipped\n")
    only(archive)
    assert _declared() == ["z"]
    assert plugins._may_declare_entry_points() is True
    assert [ep.name for ep in plugins._entry_points()] == ["z"]


def test_a_finder_of_distributions_of_its_own_leaves_the_answer_to_importlib_metadata(tmp_path, only, monkeypatch):
    class Finder:
        @staticmethod
        def find_distributions(context=None):
            return iter(())

    only(tmp_path)
    monkeypatch.setattr(sys, "meta_path", [*sys.meta_path, Finder()])
    assert plugins._may_declare_entry_points() is True


def test_in_this_environment_the_quick_look_agrees_with_importlib_metadata():
    assert importlib.machinery.PathFinder in sys.meta_path
    if _declared():
        assert plugins._may_declare_entry_points() is True
    assert [ep.name for ep in plugins._entry_points()] == _declared()


# ---- the garbage collector during validate ------------------------------------------------------


def test_the_collector_skips_old_objects_only_while_the_command_runs():
    seen = {}

    @_spare_the_collector()
    def command(args):
        seen["frozen"] = gc.get_freeze_count()
        seen["enabled"] = gc.isenabled()
        return args * 2

    assert gc.get_freeze_count() == 0
    assert command(21) == 42
    assert seen["frozen"] > 1000 and seen["enabled"] is gc.isenabled()
    assert gc.get_freeze_count() == 0, "what was frozen is collectable again afterwards"


def test_objects_frozen_by_someone_else_stay_as_they_were():
    @_spare_the_collector()
    def command(args):
        return gc.get_freeze_count()

    gc.freeze()
    try:
        frozen = gc.get_freeze_count()
        assert command(None) == frozen
        assert gc.get_freeze_count() == frozen
    finally:
        gc.unfreeze()


def test_a_failing_command_leaves_the_collector_as_it_found_it():
    @_spare_the_collector()
    def command(args):
        raise ValueError("bad")

    with pytest.raises(ValueError):
        command(None)
    assert gc.get_freeze_count() == 0


def test_validate_in_a_process_still_exits_cleanly_and_says_the_same():
    """A fresh `ganspec validate` (which freezes at exit) writes all of its output and its exit code."""
    env = {**os.environ, "GANSPEC_DATA": ""}
    run = subprocess.run([sys.executable, "-m", "ganspec", "validate", "specs/gan.gan", "specs/wgan_gp.gan"],
                         cwd=ROOT, capture_output=True, text=True, env=env)
    assert run.returncode == 0, run.stderr
    assert "warning[W404] minimax-saturates" in run.stdout
    assert run.stdout.rstrip().splitlines()[-1].startswith("ok with warnings: 2 file(s) checked")


# ---- the quoted source line without colours ------------------------------------------------------


def _shown(renderable) -> str:
    console = Console(file=io.StringIO(), highlight=False, soft_wrap=True)
    assert console.color_system is None
    console.print(Text("12 | ") + renderable, highlight=False)
    return console.file.getvalue()


@pytest.mark.parametrize("line", ["", "   ", "  conv(64, kernel: 3)   ", "\tlet x = 1\t", "\ufefflet a = 2",
                                  "a\x07b\x08c\x1b[31m", "生成器 conv(ｘ)", "# comment  ", "x\x0c",
                                  '"str\\"ing" 1e-4 ** 2', "\u00a0x\u3000"])
def test_an_uncoloured_source_line_reads_as_the_highlighted_one(line):
    assert _shown(_unhighlighted(line)) == _shown(_highlighted(line))


def test_uncoloured_source_lines_read_as_highlighted_ones_on_random_text():
    generator = random.Random(11)
    alphabet = "ab \t(){}[]:,.#\"\\=+-*/0123456789e\x07\x1b\ufeff\u00a0\u3000é"
    for _ in range(300):
        line = "".join(generator.choice(alphabet) for _ in range(generator.randint(0, 40)))
        assert _shown(_unhighlighted(line)) == _shown(_highlighted(line)), repr(line)


@pytest.mark.parametrize("force_colour", [False, True])
def test_pygments_is_imported_only_where_colours_show(force_colour):
    env = {k: v for k, v in os.environ.items() if k not in ("FORCE_COLOR", "NO_COLOR", "TTY_COMPATIBLE")}
    if force_colour:
        env["FORCE_COLOR"] = "1"
    code = ("import sys, ganspec.cli\n"
            "ganspec.cli.main(['validate', '-q', 'specs/gan.gan'])\n"
            "print('pygments' in sys.modules, file=sys.stderr)\n")
    run = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, env=env)
    assert "warning[W404]" in run.stdout
    assert run.stderr.strip().splitlines()[-1] == str(force_colour)
    assert ("\x1b[" in run.stdout) is force_colour
