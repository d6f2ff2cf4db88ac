"""The atomic writer: ..data symlink, timestamped directories, one rename per update."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from pocketkube.kubelet.volumes import atomicwriter
from pocketkube.kubelet.volumes.atomicwriter import FileProjection, WriteError
from tests.unit.kubelet.volumes.tree import visible


def versions(target: Path) -> list[str]:
    return sorted(n for n in os.listdir(target) if n.startswith("..") and n not in ("..data",))


def test_first_write_layout(tmp_path: Path) -> None:
    payload = {
        "a": FileProjection(b"A", 0o644),
        "dir/b": FileProjection(b"B", 0o400),
        "dir/sub/c": FileProjection(b"C", 0o600),
    }
    assert atomicwriter.write(tmp_path, payload) is True
    data = os.readlink(tmp_path / "..data")
    assert data.startswith("..")
    assert (tmp_path / data).is_dir()
    assert stat.S_IMODE((tmp_path / data).stat().st_mode) == 0o755
    assert os.readlink(tmp_path / "a") == "..data/a"
    assert os.readlink(tmp_path / "dir") == "..data/dir"
    assert visible(tmp_path) == {
        "a": (b"A", 0o644),
        "dir/b": (b"B", 0o400),
        "dir/sub/c": (b"C", 0o600),
    }
    assert versions(tmp_path) == [data]


def test_unchanged_payload_is_not_rewritten(tmp_path: Path) -> None:
    payload = {"a": FileProjection(b"A", 0o644)}
    atomicwriter.write(tmp_path, payload)
    before = os.readlink(tmp_path / "..data")
    assert atomicwriter.write(tmp_path, dict(payload)) is False
    assert os.readlink(tmp_path / "..data") == before


@pytest.mark.parametrize(
    ("second", "expected"),
    [
        (
            {"a": FileProjection(b"A2", 0o644), "b": FileProjection(b"B", 0o644)},
            {"a": (b"A2", 0o644)},
        ),
        ({"a": FileProjection(b"A", 0o600)}, {"a": (b"A", 0o600)}),  # a mode change is an update
        ({"c": FileProjection(b"C", 0o644)}, {"c": (b"C", 0o644)}),  # a and b leave
        ({}, {}),
        ({"b/x": FileProjection(b"X", 0o644)}, {"b/x": (b"X", 0o644)}),  # a file becomes a dir
    ],
)
def test_update(
    tmp_path: Path, second: dict[str, FileProjection], expected: dict[str, tuple[bytes, int]]
) -> None:
    atomicwriter.write(
        tmp_path, {"a": FileProjection(b"A", 0o644), "b": FileProjection(b"B", 0o644)}
    )
    first = os.readlink(tmp_path / "..data")
    assert atomicwriter.write(tmp_path, second) is True
    current = os.readlink(tmp_path / "..data")
    assert current != first
    assert versions(tmp_path) == [current]  # the old version is gone
    want = dict(expected)
    if "b" in second:
        want["b"] = (b"B", 0o644)
    assert visible(tmp_path) == want
    assert sorted(n for n in os.listdir(tmp_path) if not n.startswith("..")) == sorted(
        {p.split("/")[0] for p in second}
    )


def test_leftovers_of_a_killed_writer_are_cleaned(tmp_path: Path) -> None:
    atomicwriter.write(tmp_path, {"a": FileProjection(b"A", 0o644)})
    (tmp_path / "..2020_01_01_00_00_00.123").mkdir()
    os.symlink("..2020_01_01_00_00_00.123", tmp_path / "..data_tmp")
    atomicwriter.write(tmp_path, {"a": FileProjection(b"B", 0o644)})
    assert versions(tmp_path) == [os.readlink(tmp_path / "..data")]
    assert visible(tmp_path) == {"a": (b"B", 0o644)}


def test_mode_ignores_the_umask(tmp_path: Path) -> None:
    old = os.umask(0o077)
    try:
        atomicwriter.write(tmp_path, {"a": FileProjection(b"A", 0o666)})
    finally:
        os.umask(old)
    assert visible(tmp_path) == {"a": (b"A", 0o666)}


@pytest.mark.parametrize(
    ("path", "message"),
    [
        ("", 'invalid path: must not be empty: ""'),
        ("/etc/passwd", "invalid path: must be relative path: /etc/passwd"),
        ("a/../b", "invalid path: must not contain '..': a/../b"),
        ("..", "invalid path: must not contain '..': .."),
        ("..data", "invalid path: must not start with '..': ..data"),
        ("..x/y", "invalid path: must not start with '..': ..x/y"),
        ("x" * 256, "invalid path: filenames must be less than or equal to 255 characters"),
        ("a/" * 2049, "invalid path: must be less than or equal to 4096 characters"),
    ],
)
def test_invalid_paths(tmp_path: Path, path: str, message: str) -> None:
    with pytest.raises(WriteError) as caught:
        atomicwriter.write(tmp_path, {path: FileProjection(b"", 0o644)})
    assert caught.value.message == message
    assert os.listdir(tmp_path) == []


def test_paths_are_cleaned(tmp_path: Path) -> None:
    atomicwriter.write(tmp_path, {"./a//b/": FileProjection(b"AB", 0o644)})
    assert visible(tmp_path) == {"a/b": (b"AB", 0o644)}
