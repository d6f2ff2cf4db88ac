"""The Handle plugins get: the cycle's snapshot, the API client, listers, events, nominations."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from pocketkube.scheduler.cache import Cache
from pocketkube.scheduler.framework.interface import EventPoster, Lister
from pocketkube.scheduler.framework.snapshot import NodeSnapshot
from pocketkube.scheduler.framework.types import PodInfo


class _EmptyLister:
    def get(self, key: str) -> dict[str, Any] | None:
        return None

    def list(self) -> list[dict[str, Any]]:
        return []


class SchedulerHandle:
    def __init__(
        self,
        *,
        cache: Cache,
        client: Any,
        listers: Mapping[str, Lister],
        recorder: EventPoster,
        nominated: Callable[[str], list[PodInfo]],
        has_nominated: Callable[[], bool],
    ) -> None:
        self._cache = cache
        self._client = client
        self._listers = dict(listers)
        self._recorder = recorder
        self._nominated = nominated
        self._has_nominated = has_nominated
        self._framework: Any = None

    @property
    def snapshot(self) -> NodeSnapshot:
        return self._cache.snapshot()

    @property
    def client(self) -> Any:
        return self._client

    @property
    def recorder(self) -> EventPoster:
        return self._recorder

    def lister(self, resource: str) -> Lister:
        return self._listers.get(resource) or _EmptyLister()

    def framework(self) -> Any:
        return self._framework

    def set_framework(self, framework: Any) -> None:
        self._framework = framework

    def nominated_pods_for_node(self, node_name: str) -> list[PodInfo]:
        return self._nominated(node_name)

    def has_nominated_pods(self) -> bool:
        return self._has_nominated()
