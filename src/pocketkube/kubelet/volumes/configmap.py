"""configMap volumes: a ConfigMap's keys as files, re-read on every sync.

Every key of ``data`` and ``binaryData`` becomes a file (or only the listed ``items``, each with
its own ``path`` and ``mode``); files are ``defaultMode`` (0644) otherwise. A missing ConfigMap
fails the mount (``configmap "x" not found``) unless ``optional``, which gives an empty volume; a
missing item key fails it with ``configmap references non-existent config key: k``. The files
are written by the atomic writer, so an updated ConfigMap replaces them all at once.
"""

from __future__ import annotations

from pathlib import Path

from pocketkube.kubelet.volumes.plugin import (
    Obj,
    Payload,
    Plugin,
    PodContext,
    key_payload,
    mode_of,
    read_keys,
    write_payload,
)
from pocketkube.kubelet.volumes.source import configmap_data


async def payload(source: Obj, context: PodContext, default_mode: int) -> Payload:
    """The files of a ConfigMap reference (also a projected volume's ``configMap`` source)."""
    optional = bool(source.get("optional"))
    fetch = context.source.get_configmap(context.namespace, str(source["name"]))
    files = await read_keys(fetch, configmap_data, optional=optional)
    return key_payload(
        files,
        source.get("items"),
        default_mode=default_mode,
        optional=optional,
        missing="configmap references non-existent config key",
    )


async def set_up(source: Obj, directory: Path, context: PodContext) -> str:
    files = await payload(source, context, mode_of(source))
    return await write_payload(directory, files, dir_mode=0o777)


PLUGIN = Plugin(
    name="kubernetes.io~configmap", source_field="configMap", read_only=True, set_up=set_up
)
