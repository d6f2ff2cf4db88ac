"""Read a volume directory as a container sees it (through the atomic writer's symlinks)."""

from __future__ import annotations

import os
import stat
from pathlib import Path


def visible(target: Path | str) -> dict[str, tuple[bytes, int]]:
    """path → (content, permission bits) of every file under the user-visible names."""
    root = Path(target)
    files: dict[str, tuple[bytes, int]] = {}
    for top in sorted(os.listdir(root)):
        if top.startswith(".."):
            continue
        entry = root / top
        if entry.is_file():
            files[top] = (entry.read_bytes(), stat.S_IMODE(entry.stat().st_mode))
            continue
        for dirpath, _, names in os.walk(entry, followlinks=True):
            for name in names:
                path = Path(dirpath) / name
                key = str(path.relative_to(root))
                files[key] = (path.read_bytes(), stat.S_IMODE(path.stat().st_mode))
    return files


def write_text(path: Path | str, text: str) -> None:
    Path(path).write_text(text)


def read_text(path: Path | str) -> str:
    return Path(path).read_text()
