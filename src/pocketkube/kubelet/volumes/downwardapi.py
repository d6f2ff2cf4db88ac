"""downwardAPI volumes: the pod's metadata and its containers' resources as files.

Each item is a file at ``path`` holding a ``fieldRef`` (only metadata: name, namespace, uid,
labels, annotations, or one label/annotation) or a ``resourceFieldRef`` (a container's request or
limit, unset limits being the node's allocatable), formatted by ``kubelet.fieldpath`` exactly as
environment variables are. Labels and annotations can change while the pod runs, so the volume
is re-written (atomically) on every sync. Every failing item is reported, aggregated as upstream.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

from pocketkube.kubelet import fieldpath
from pocketkube.kubelet.volumes.atomicwriter import FileProjection
from pocketkube.kubelet.volumes.plugin import (
    Obj,
    Payload,
    Plugin,
    PodContext,
    SetUpError,
    aggregate,
    mode_of,
    write_payload,
)


def payload(
    items: Sequence[Obj] | None,
    pod: Obj,
    node_allocatable: Mapping[str, object],
    default_mode: int,
) -> Payload:
    """The files of a list of downwardAPI items (also a projected volume's source)."""
    files: Payload = {}
    errors: list[str] = []
    for item in items or []:
        mode = item.get("mode")
        value = ""
        try:
            if item.get("fieldRef"):
                value = fieldpath.metadata_field(pod, str(item["fieldRef"].get("fieldPath", "")))
            elif item.get("resourceFieldRef"):
                value = fieldpath.resource_field(
                    item["resourceFieldRef"], pod, None, node_allocatable
                )
        except fieldpath.FieldPathError as err:
            errors.append(err.message)
        path = str(item.get("path", ""))
        files[path] = FileProjection(value.encode(), default_mode if mode is None else int(mode))
    if errors:
        raise SetUpError(aggregate(errors))
    return files


async def set_up(source: Obj, directory: Path, context: PodContext) -> str:
    files = payload(source.get("items"), context.pod, context.node_allocatable, mode_of(source))
    return await write_payload(directory, files, dir_mode=0o1777)


PLUGIN = Plugin(
    name="kubernetes.io~downward-api", source_field="downwardAPI", read_only=True, set_up=set_up
)
