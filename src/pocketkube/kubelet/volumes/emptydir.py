"""emptyDir: a directory that starts empty and lives as long as the pod on this node.

Containers of a pod share scratch space through it, and it survives container restarts (not the
pod's deletion). Upstream makes it mode 0777 so that containers running as any user can write.
``medium: Memory`` is a tmpfs upstream; here it is a plain directory too (mounting a tmpfs needs
root and a mount namespace the process runtime does not have), and ``sizeLimit`` is not enforced
(upstream enforces it by evicting the pod, which pocketkube's kubelet does not do yet).
"""

from __future__ import annotations

import asyncio
import os
import stat
from pathlib import Path

from pocketkube.kubelet.volumes.plugin import Obj, Plugin, PodContext, SetUpError

MODE = 0o777


def make_dir(directory: Path, mode: int = MODE) -> None:
    directory.mkdir(parents=True, exist_ok=True)
    if stat.S_IMODE(directory.stat().st_mode) != mode:
        os.chmod(directory, mode)


async def set_up(source: Obj, directory: Path, context: PodContext) -> str:
    try:
        await asyncio.to_thread(make_dir, directory)
    except OSError as err:
        raise SetUpError(str(err)) from None
    return str(directory)


PLUGIN = Plugin(
    name="kubernetes.io~empty-dir", source_field="emptyDir", read_only=False, set_up=set_up
)
