"""hostPath type checks and creation, with upstream's messages."""

from __future__ import annotations

import os
import socket
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest

from pocketkube.kubelet.volumes.hostpath import check_type
from pocketkube.kubelet.volumes.plugin import SetUpError


@pytest.fixture
def host(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A directory with one of each kind of file."""
    (tmp_path / "dir").mkdir()
    (tmp_path / "file").write_text("x")
    os.symlink("dir", tmp_path / "link-to-dir")
    with socket.socket(socket.AF_UNIX) as sock:
        monkeypatch.chdir(tmp_path)  # a short socket path, whatever tmp_path's length
        sock.bind("sock")
        yield tmp_path


KINDS = ("dir", "file", "sock", "link-to-dir", "missing")
ACCEPTED = {
    "": set(KINDS),
    "Directory": {"dir", "link-to-dir"},
    "DirectoryOrCreate": {"dir", "link-to-dir", "missing"},
    "File": {"file"},
    "FileOrCreate": {"file", "missing"},
    "Socket": {"sock"},
    "CharDevice": set(),
    "BlockDevice": set(),
}
WHAT = {
    "Directory": "is not a directory",
    "DirectoryOrCreate": "is not a directory",
    "File": "is not a file",
    "FileOrCreate": "is not a file",
    "Socket": "is not a socket file",
    "CharDevice": "is not a character device",
    "BlockDevice": "is not a block device",
}


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("path_type", list(ACCEPTED))
def test_type_check(host: Path, kind: str, path_type: str) -> None:
    path = str(host / kind)
    if kind in ACCEPTED[path_type]:
        check_type(path, path_type)
        return
    with pytest.raises(SetUpError) as caught:
        check_type(path, path_type)
    assert caught.value.message == f"hostPath type check failed: {path} {WHAT[path_type]}"


def test_created_modes(tmp_path: Path) -> None:
    check_type(str(tmp_path / "a" / "b"), "DirectoryOrCreate")
    check_type(str(tmp_path / "a" / "f"), "FileOrCreate")
    assert stat.S_IMODE((tmp_path / "a" / "b").stat().st_mode) == 0o755 & ~_umask()
    assert (tmp_path / "a" / "f").read_bytes() == b""
    assert stat.S_IMODE((tmp_path / "a" / "f").stat().st_mode) == 0o644 & ~_umask()


def test_existing_file_is_not_truncated(tmp_path: Path) -> None:
    (tmp_path / "f").write_text("keep")
    check_type(str(tmp_path / "f"), "FileOrCreate")
    assert (tmp_path / "f").read_text() == "keep"


def test_file_or_create_needs_its_parent(tmp_path: Path) -> None:
    path = str(tmp_path / "no" / "f")
    with pytest.raises(SetUpError) as caught:
        check_type(path, "FileOrCreate")
    assert caught.value.message == f"open {path}: no such file or directory"


def test_character_device() -> None:
    check_type("/dev/null", "CharDevice")


def test_invalid_type(tmp_path: Path) -> None:
    with pytest.raises(SetUpError) as caught:
        check_type(str(tmp_path), "Fifo")
    assert caught.value.message == "Fifo is an invalid volume type"


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask
