"""Serving one resource in several versions over one stored version, by conversion.

Where two versions of a resource share their etcd keys, upstream stores objects in one version
(the storage version) and converts every request and response of the other. Here each such pair
has a module of two pure functions, ``to_storage`` and ``from_storage``, with upstream's field
mappings (``events``: events.k8s.io/v1 over core v1 Events; ``hpa``: autoscaling/v1 over
autoscaling/v2 HorizontalPodAutoscalers), and ``registry.ConvertingRegistry`` serves the other
version through the storage version's registry, converting on the way in and out.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from pocketkube.apiserver.conversion import events, hpa
from pocketkube.apiserver.resources import GroupVersionKind
from pocketkube.storage.interface import Obj


@dataclass(frozen=True, slots=True)
class Converter:
    """Between a served version and the version its objects are stored in."""

    to_storage: Callable[[Obj], Obj]
    from_storage: Callable[[Obj], Obj]


CONVERTERS: dict[tuple[GroupVersionKind, GroupVersionKind], Converter] = {
    (
        GroupVersionKind("events.k8s.io", "v1", "Event"),
        GroupVersionKind("", "v1", "Event"),
    ): Converter(events.to_storage, events.from_storage),
    (
        GroupVersionKind("autoscaling", "v1", "HorizontalPodAutoscaler"),
        GroupVersionKind("autoscaling", "v2", "HorizontalPodAutoscaler"),
    ): Converter(hpa.to_storage, hpa.from_storage),
}


def converter_for(served: GroupVersionKind, stored: GroupVersionKind) -> Converter | None:
    """How objects of ``served`` are stored as ``stored``; None when we cannot convert."""
    return CONVERTERS.get((served, stored))
