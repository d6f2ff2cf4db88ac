"""secret volumes: a Secret's keys as files, re-read on every sync.

As configMap volumes, with the Secret's base64 ``data`` decoded: all keys or the listed
``items``, ``defaultMode`` 0644 unless given, ``secret "x" not found`` unless ``optional``,
``references non-existent secret key: k`` for a missing item. Upstream keeps secrets on a tmpfs
so they never reach a disk; here they are files under the kubelet's root directory (no tmpfs
without a mount namespace), whose root keeps tmpfs's sticky 01777 mode.
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
from pocketkube.kubelet.volumes.source import secret_data


async def payload(source: Obj, context: PodContext, default_mode: int, *, name: str) -> Payload:
    """The files of a Secret reference (also a projected volume's ``secret`` source, whose
    field is ``name`` where a secret volume says ``secretName``)."""
    optional = bool(source.get("optional"))
    fetch = context.source.get_secret(context.namespace, name)
    files = await read_keys(fetch, secret_data, optional=optional)
    return key_payload(
        files,
        source.get("items"),
        default_mode=default_mode,
        optional=optional,
        missing="references non-existent secret key",
    )


async def set_up(source: Obj, directory: Path, context: PodContext) -> str:
    files = await payload(source, context, mode_of(source), name=str(source.get("secretName", "")))
    return await write_payload(directory, files, dir_mode=0o1777)


PLUGIN = Plugin(name="kubernetes.io~secret", source_field="secret", read_only=True, set_up=set_up)
