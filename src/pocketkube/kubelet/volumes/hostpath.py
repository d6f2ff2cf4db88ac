"""hostPath volumes: a file or directory of the node itself.

Nothing is created under the pod's directory: containers use the host path directly, after the
``type`` check upstream makes (pkg/volume/hostpath): "" checks nothing; DirectoryOrCreate and
FileOrCreate create what is missing (0755 directories with parents, an empty 0644 file whose
parent must exist); Directory, File, Socket, CharDevice and BlockDevice require that kind of file
(symlinks followed). Messages are upstream's (``hostPath type check failed: /x is not a
directory``). As upstream, a hostPath grants whatever the kubelet's user may do there; the process
runtime cannot make it read-only for the container (readOnly is advisory for it).
"""

from __future__ import annotations

import asyncio
import os
import stat
from collections.abc import Callable
from pathlib import Path

from pocketkube.kubelet.volumes.plugin import Obj, Plugin, PodContext, SetUpError

KINDS: dict[str, tuple[Callable[[int], bool], str]] = {
    "Directory": (stat.S_ISDIR, "a directory"),
    "File": (stat.S_ISREG, "a file"),
    "Socket": (stat.S_ISSOCK, "a socket file"),
    "CharDevice": (stat.S_ISCHR, "a character device"),
    "BlockDevice": (stat.S_ISBLK, "a block device"),
}


def go_error(op: str, path: str, err: OSError) -> str:
    """An OSError as Go's ``*PathError`` prints it: ``open /x: no such file or directory``."""
    text = os.strerror(err.errno) if err.errno else str(err)
    return f"{op} {path}: {text[:1].lower()}{text[1:]}"


def _mode(path: str) -> int | None:
    try:
        return os.stat(path).st_mode
    except FileNotFoundError:
        return None
    except OSError as err:
        raise SetUpError(go_error("stat", path, err)) from None


def _create(path: str, kind: str) -> None:
    try:
        if kind == "Directory":
            os.makedirs(path, mode=0o755, exist_ok=True)
        else:
            os.close(os.open(path, os.O_CREAT | os.O_RDONLY, 0o644))
    except OSError as err:
        raise SetUpError(go_error("mkdir" if kind == "Directory" else "open", path, err)) from None


def check_type(path: str, path_type: str) -> None:
    """Check (or create) ``path`` for a hostPath ``type``; raises ``SetUpError``."""
    if not path_type:
        return
    kind = path_type.removesuffix("OrCreate")
    if kind not in KINDS or (path_type.endswith("OrCreate") and kind not in ("Directory", "File")):
        raise SetUpError(f"{path_type} is an invalid volume type")
    mode = _mode(path)
    if mode is None and path_type.endswith("OrCreate"):
        _create(path, kind)
        return
    is_kind, what = KINDS[kind]
    if mode is None or not is_kind(mode):
        raise SetUpError(f"hostPath type check failed: {path} is not {what}")


async def set_up(source: Obj, directory: Path, context: PodContext) -> str:
    path = str(source.get("path", ""))
    await asyncio.to_thread(check_type, path, str(source.get("type") or ""))
    return path


PLUGIN = Plugin(
    name="kubernetes.io~host-path", source_field="hostPath", read_only=False, set_up=set_up
)
