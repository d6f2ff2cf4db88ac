"""events.k8s.io/v1 Event ↔ core v1 Event, the version events are stored in.

Both APIs keep their events under ``/registry/events/``; upstream decodes either into the
internal (core-shaped) Event, so an event written through one API reads back through the other.
The mapping is upstream's ``pkg/apis/events/v1/conversion.go``: most fields share a name, a few
were renamed when the events API was redesigned (``message`` became ``note``, ``involvedObject``
became ``regarding``, the pre-series bookkeeping went to ``deprecated*`` fields).

Fields move only when present, so a conversion there and back gives the object it started from;
the result shares nested values (metadata, references) with its input, which is never changed.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pocketkube.storage.interface import Obj

API_VERSION = "events.k8s.io/v1"
STORAGE_API_VERSION = "v1"
KIND = "Event"

# events.k8s.io/v1 field → core v1 field.
RENAMED = {
    "note": "message",
    "regarding": "involvedObject",
    "reportingController": "reportingComponent",
    "deprecatedSource": "source",
    "deprecatedFirstTimestamp": "firstTimestamp",
    "deprecatedLastTimestamp": "lastTimestamp",
    "deprecatedCount": "count",
}
# Fields both versions spell alike (``series`` has the same count and lastObservedTime).
SHARED = (
    "metadata",
    "eventTime",
    "series",
    "action",
    "reason",
    "related",
    "reportingInstance",
    "type",
)


def _move(obj: Mapping[str, Any], mapping: dict[str, str], api_version: str) -> Obj:
    out: Obj = {"apiVersion": api_version, "kind": KIND}
    for name in SHARED:
        if name in obj:
            out[name] = obj[name]
    for source, target in mapping.items():
        if source in obj:
            out[target] = obj[source]
    return out


def to_storage(event: Mapping[str, Any]) -> Obj:
    """An events.k8s.io/v1 Event as the core v1 Event it is stored as."""
    return _move(event, RENAMED, STORAGE_API_VERSION)


def from_storage(event: Mapping[str, Any]) -> Obj:
    """A stored core v1 Event as events.k8s.io/v1 serves it."""
    return _move(event, {core: new for new, core in RENAMED.items()}, API_VERSION)
