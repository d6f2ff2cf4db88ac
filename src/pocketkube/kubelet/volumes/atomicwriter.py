"""Replace all the files of a volume at once, so a reader never sees half an update.

ConfigMap, Secret, downwardAPI and projected volumes change while containers read them. Upstream's
``AtomicWriter`` (pkg/volume/util/atomic_writer.go) makes every update one ``rename(2)``: the
real files live in a hidden timestamped directory (``..2024_01_31_12_00_00.123456789``), a
``..data`` symlink points at the current one, and each user-visible top-level name is a symlink
through ``..data`` (``key -> ..data/key``). An update writes a new timestamped directory, points
``..data_tmp`` at it and renames that over ``..data``; then names that left the payload are
unlinked and the old directory removed. Programs that watch ``..data`` (inotify) see one event.
Nothing is written when the payload is unchanged, so re-mounting on every sync is cheap.

Names starting with ``..`` are the writer's own; a payload path must be relative, without ``..``
components, with names of at most 255 bytes (upstream's rules and messages).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import stat
import tempfile
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

DATA_DIR = "..data"
NEW_DATA_DIR = "..data_tmp"
MAX_FILE_NAME = 255
MAX_PATH = 4096


@dataclass(frozen=True)
class FileProjection:
    data: bytes
    mode: int  # permission bits, e.g. 0o644


class WriteError(Exception):
    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


def validate_path(path: str) -> None:
    if not path:
        raise WriteError(f'invalid path: must not be empty: "{path}"')
    if os.path.isabs(path):
        raise WriteError(f"invalid path: must be relative path: {path}")
    if len(path) > MAX_PATH:
        raise WriteError(f"invalid path: must be less than or equal to {MAX_PATH} characters")
    items = path.split("/")
    for item in items:
        if item == "..":
            raise WriteError(f"invalid path: must not contain '..': {path}")
        if len(item.encode()) > MAX_FILE_NAME:
            raise WriteError(
                f"invalid path: filenames must be less than or equal to {MAX_FILE_NAME} characters"
            )
    if items[0].startswith("..") and len(items[0]) > 2:
        raise WriteError(f"invalid path: must not start with '..': {path}")


def clean_payload(payload: Mapping[str, FileProjection]) -> dict[str, FileProjection]:
    cleaned = {}
    for path, projection in payload.items():
        validate_path(path)
        cleaned[os.path.normpath(path)] = projection
    return cleaned


def _needs_write(payload: Mapping[str, FileProjection], old_dir: Path) -> bool:
    for path, projection in payload.items():
        file = old_dir / path
        try:
            info = file.lstat()
            if (
                stat.S_IMODE(info.st_mode) != projection.mode
                or file.read_bytes() != projection.data
            ):
                return True
        except OSError:
            return True
    return False


def _paths_to_remove(payload: Mapping[str, FileProjection], old_dir: Path) -> set[str]:
    """User-visible top-level names of the old version that the new one no longer has."""
    old = {entry.name for entry in old_dir.iterdir()} if old_dir.is_dir() else set()
    return old - {path.split("/", 1)[0] for path in payload}


def _write_files(payload: Mapping[str, FileProjection], directory: Path) -> None:
    for path, projection in payload.items():
        file = directory / path
        file.parent.mkdir(mode=0o755, parents=True, exist_ok=True)
        fd = os.open(file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, projection.mode)
        with os.fdopen(fd, "wb") as out:
            out.write(projection.data)
        os.chmod(file, projection.mode)  # the umask must not change the mode asked for


def write(target: Path, payload: Mapping[str, FileProjection]) -> bool:
    """Project ``payload`` into ``target`` (which must exist); False when nothing changed."""
    files = clean_payload(payload)
    data_link = target / DATA_DIR
    try:
        old_name = os.readlink(data_link)
    except FileNotFoundError:
        old_name = ""
    old_dir = target / old_name if old_name else None
    to_remove: set[str] = set()
    if old_dir is not None and old_dir.is_dir():
        to_remove = _paths_to_remove(files, old_dir)
        if not to_remove and not _needs_write(files, old_dir):
            return False
    stamp = time.strftime("..%Y_%m_%d_%H_%M_%S.", time.gmtime())
    new_dir = Path(tempfile.mkdtemp(prefix=stamp, dir=target))
    try:
        os.chmod(new_dir, 0o755)  # group and other must be able to walk into it
        _write_files(files, new_dir)
        tmp_link = target / NEW_DATA_DIR
        with contextlib.suppress(FileNotFoundError):
            tmp_link.unlink()  # left by a writer that died half-way
        os.symlink(new_dir.name, tmp_link)
        os.rename(tmp_link, data_link)
    except BaseException:
        shutil.rmtree(new_dir, ignore_errors=True)
        raise
    for name in {path.split("/", 1)[0] for path in files}:
        visible = target / name
        if not os.path.lexists(visible):
            os.symlink(f"{DATA_DIR}/{name}", visible)
    for name in to_remove:
        with contextlib.suppress(FileNotFoundError):
            (target / name).unlink()
    _remove_stale_versions(target, keep=new_dir.name)
    return True


def _remove_stale_versions(target: Path, *, keep: str) -> None:
    """Old timestamped directories: the previous one, and any a killed writer left behind."""
    for entry in target.iterdir():
        stale = entry.name.startswith("..") and entry.name not in (keep, DATA_DIR, NEW_DATA_DIR)
        if stale and entry.is_dir() and not entry.is_symlink():
            shutil.rmtree(entry, ignore_errors=True)
