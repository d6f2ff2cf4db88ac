"""The watch hub offers a commit only to the watches whose keys can match it."""

from __future__ import annotations

import pytest

from pocketkube.storage.backend import EventType, KeyValue, KVEvent
from pocketkube.storage.localwatch import WatchHub, bucket


@pytest.mark.parametrize(
    ("key", "expected"),
    [
        ("/registry/pods/default/web", "/registry/pods/"),
        ("/registry/pods/", "/registry/pods/"),
        ("/registry/pods", ""),
        ("/registry/", ""),
        ("", ""),
        ("/registry/namespaces/default", "/registry/namespaces/"),
    ],
)
def test_bucket(key: str, expected: str) -> None:
    assert bucket(key) == expected


def _put(key: str, revision: int) -> KVEvent:
    return KVEvent(EventType.PUT, KeyValue(key, b"{}", revision, revision))


async def _nothing(*_: object) -> list[KVEvent]:
    return []


def test_each_watch_gets_what_it_watches_and_nothing_else() -> None:
    hub = WatchHub(replay=_nothing, compacted=lambda: 0)
    watched = {
        ("/registry/pods/", True): ["/registry/pods/a/x", "/registry/pods/b/y"],
        ("/registry/pods/a/", True): ["/registry/pods/a/x"],
        ("/registry/pods/a/x", False): ["/registry/pods/a/x"],
        ("/registry/", True): ["/registry/pods/a/x", "/registry/nodes/n", "/registry/pods/b/y"],
        ("/registry/pod", True): ["/registry/pods/a/x", "/registry/pods/b/y"],
        ("/registry/nodes/", True): ["/registry/nodes/n"],
        ("/registry/services/", True): [],
    }
    watches = {
        spec: hub.watch(spec[0], prefix=spec[1], start_revision=0, progress_interval=None)
        for spec in watched
    }
    for watch in watches.values():
        hub._register(watch)
    hub.publish([_put("/registry/pods/a/x", 1), _put("/registry/nodes/n", 1)], 1)
    hub.publish([_put("/registry/pods/b/y", 2)], 2)
    for spec, expected in watched.items():
        got = [e.kv.key for batch in watches[spec]._pending for e in batch.events]
        assert got == expected, spec
    for watch in watches.values():
        hub._unregister(watch)
    assert hub.open_watches == 0
    assert not hub._buckets
