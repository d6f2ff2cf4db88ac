"""The process runtime's image service: names remembered, nothing pulled.

A container of the process runtime runs the host's binaries, so there is nothing to download.
The kubelet still goes through PullImage (for its ``Pulled`` event, the image pull policy and
the node's ``status.images``), so pulling records the name under a stable id, ``sha256:`` and
the SHA-256 of the name (the same on every node and after every restart, as a content digest
would be), and the list survives restarts in ``images.json``.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

from pocketkube.runtime import cri
from pocketkube.runtime.process.state import read_json, write_atomic


def image_id(name: str) -> str:
    return "sha256:" + hashlib.sha256(name.encode()).hexdigest()


class ImageStore:
    def __init__(self, *, path: Path) -> None:
        self.path = path
        data = read_json(path)
        self._names: list[str] = list(data) if isinstance(data, list) else []

    def _save(self) -> None:
        write_atomic(self.path, json.dumps(sorted(self._names)).encode())

    def _find(self, ref: str) -> str | None:
        """The recorded name that ``ref`` (a name or an image id) refers to."""
        for name in self._names:
            if ref in (name, image_id(name)):
                return name
        return None

    def pull(self, name: str) -> str:
        if self._find(name) is None:
            self._names.append(name)
            self._save()
        return image_id(name)

    def status(self, ref: str) -> cri.Image | None:
        name = self._find(ref)
        return None if name is None else cri.Image(id=image_id(name), repo_tags=(name,))

    def list(self) -> list[cri.Image]:
        return [cri.Image(id=image_id(n), repo_tags=(n,)) for n in sorted(self._names)]

    def remove(self, ref: str) -> None:
        name = self._find(ref)
        if name is not None:
            self._names.remove(name)
            self._save()
