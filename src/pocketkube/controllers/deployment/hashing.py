"""The ``pod-template-hash``: the suffix of a Deployment's ReplicaSet names and the label that
keeps one ReplicaSet's pods apart from another's (upstream's ``controller.ComputeHash``).

Upstream hashes the pod template with 32-bit FNV-1a, appends the Deployment's
``status.collisionCount`` (when set) as eight little-endian bytes, prints the sum in decimal and
re-encodes that string with ``rand.SafeEncodeString`` (each byte picks one of 27 characters that
spell no words and are never confused: ``bcdfghjklmnpqrstvwxz2456789``), so names look like
``web-7d4b9c8f5``. What is hashed differs: upstream feeds FNV the go-spew dump of its Go struct
(every field of ``v1.PodTemplateSpec``, set or not, in Go's field order), which changes with every
Kubernetes release and cannot be rebuilt from JSON without Go's type tables; here FNV reads a
canonical rendering of the template as the API returns it (keys sorted, strings quoted). The
names therefore have upstream's form and stability (same template and collision count, same
name) but not upstream's exact characters.
"""

from __future__ import annotations

import json
import struct
from typing import Any

SAFE_ALPHANUMS = "bcdfghjklmnpqrstvwxz2456789"
FNV32_OFFSET = 0x811C9DC5
FNV32_PRIME = 0x01000193


def fnv32a(data: bytes, start: int = FNV32_OFFSET) -> int:
    """32-bit FNV-1a (Go's ``hash/fnv.New32a``)."""
    value = start
    for byte in data:
        value = ((value ^ byte) * FNV32_PRIME) & 0xFFFFFFFF
    return value


def safe_encode_string(text: str) -> str:
    """apimachinery's ``rand.SafeEncodeString``: one safe character per byte."""
    return "".join(SAFE_ALPHANUMS[byte % len(SAFE_ALPHANUMS)] for byte in text.encode())


def render(value: Any) -> str:
    """A canonical text of a JSON value: maps with sorted keys, in the spirit of go-spew."""
    if isinstance(value, dict):
        items = " ".join(f"{key}:{render(value[key])}" for key in sorted(value))
        return "{" + items + "}"
    if isinstance(value, list):
        return "[" + " ".join(render(item) for item in value) + "]"
    if value is None:
        return "<nil>"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)
    return str(value)


def compute_hash(template: Any, collision_count: int | None) -> str:
    """The ``pod-template-hash`` of a pod template for a Deployment's ``collisionCount``."""
    value = fnv32a(render(template).encode())
    if collision_count is not None:
        value = fnv32a(struct.pack("<I", collision_count & 0xFFFFFFFF) + bytes(4), value)
    return safe_encode_string(str(value))
