"""The process runtime's image service: names recorded under stable ids, persisted."""

from __future__ import annotations

import hashlib
from pathlib import Path

from pocketkube.runtime.process.images import ImageStore, image_id


def test_pull_list_status_remove(tmp_path: Path) -> None:
    store = ImageStore(path=tmp_path / "images.json")
    ref = store.pull("busybox:1.36")
    assert (
        ref == "sha256:" + hashlib.sha256(b"busybox:1.36").hexdigest() == image_id("busybox:1.36")
    )
    assert store.pull("busybox:1.36") == ref  # idempotent
    store.pull("nginx")
    assert [i.repo_tags for i in store.list()] == [("busybox:1.36",), ("nginx",)]
    image = store.status("busybox:1.36")
    assert image is not None
    assert image.id == ref
    assert store.status(ref) == image  # by id too
    assert store.status("never-pulled") is None

    again = ImageStore(path=tmp_path / "images.json")  # after a restart
    assert [i.id for i in again.list()] == [i.id for i in store.list()]
    again.remove(ref)
    again.remove("never-pulled")
    assert [i.repo_tags for i in ImageStore(path=tmp_path / "images.json").list()] == [("nginx",)]
