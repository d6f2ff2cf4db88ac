"""Event folding and the recorder, with a fake API (the sink) and a fake wall clock."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from pocketkube.client import ApiError, EventRecorder, object_reference
from pocketkube.client.events import SeriesCache, micro_time
from pocketkube.client.rest import Obj, Params, PatchType

S = 1_000_000_000  # nanoseconds
T0 = 1_700_000_000 * S


class FakeSink:
    def __init__(self) -> None:
        self.calls: list[tuple[str, str, Obj]] = []
        self.fail_patch: ApiError | None = None
        self.fail_create: ApiError | None = None

    async def create(self, path: str, obj: Obj, *, params: Params | None = None) -> Obj:
        self.calls.append(("create", path, obj))
        if self.fail_create is not None:
            raise self.fail_create
        return obj

    async def patch(
        self,
        path: str,
        patch: Obj,
        *,
        patch_type: PatchType = "merge",
        params: Params | None = None,
    ) -> Obj:
        assert patch_type == "merge"
        self.calls.append(("patch", path, patch))
        if self.fail_patch is not None:
            raise self.fail_patch
        return patch


class Clock:
    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> int:
        return self.now


POD = {
    "apiVersion": "v1",
    "kind": "Pod",
    "metadata": {"name": "web", "namespace": "ns", "uid": "u1", "resourceVersion": "7"},
}
NODE = {"apiVersion": "v1", "kind": "Node", "metadata": {"name": "n1", "uid": "u2"}}


def recorder(sink: FakeSink, clock: Clock, **kwargs: Any) -> EventRecorder:
    return EventRecorder(
        client=sink,
        reporting_controller="default-scheduler",
        reporting_instance="default-scheduler-host",
        clock=clock,
        **kwargs,
    )


# (seconds since the previous observation, expected count or None for "send a new event")
FOLDING = {
    "first is new": [(0, None)],
    "repeats count up": [(0, None), (1, 2), (1, 3), (60, 4)],
    "6 minutes since the last repeat is still folded": [(0, None), (300, 2), (360, 3)],
    "more than 6 minutes starts over": [(0, None), (361, None), (1, 2)],
}


@pytest.mark.parametrize("steps", FOLDING.values(), ids=FOLDING.keys())
def test_series_cache(steps: list[tuple[int, int | None]]) -> None:
    cache = SeriesCache()
    now = T0
    for gap, expected in steps:
        now += gap * S
        series = cache.observe("k", now)
        if expected is None:
            assert series is None
            cache.record("k", namespace="ns", name="e", now_ns=now)
        else:
            assert series is not None
            assert (series.count, series.last_observed_ns) == (expected, now)


def test_series_cache_is_bounded() -> None:
    cache = SeriesCache(max_entries=2)
    for key in ("a", "b", "c"):
        cache.record(key, namespace="ns", name=key, now_ns=T0)
    assert len(cache) == 2
    assert cache.observe("a", T0) is None  # the least recently observed went first
    assert cache.observe("c", T0) is not None


async def test_the_event_body() -> None:
    sink, clock = FakeSink(), Clock()
    related = {"apiVersion": "v1", "kind": "Node", "metadata": {"name": "n1"}}
    await recorder(sink, clock).emit(
        POD, type="Normal", reason="Scheduled", action="Binding", note="ok", related=related
    )
    [(verb, path, body)] = sink.calls
    assert (verb, path) == ("create", "/apis/events.k8s.io/v1/namespaces/ns/events")
    assert body == {
        "apiVersion": "events.k8s.io/v1",
        "kind": "Event",
        "metadata": {"name": f"web.{T0:x}", "namespace": "ns"},
        "eventTime": "2023-11-14T22:13:20.000000Z",
        "reportingController": "default-scheduler",
        "reportingInstance": "default-scheduler-host",
        "action": "Binding",
        "reason": "Scheduled",
        "note": "ok",
        "type": "Normal",
        "regarding": {
            "apiVersion": "v1",
            "kind": "Pod",
            "namespace": "ns",
            "name": "web",
            "uid": "u1",
            "resourceVersion": "7",
        },
        "related": {"apiVersion": "v1", "kind": "Node", "name": "n1"},
    }
    assert len(f"{T0:x}") == 16


async def test_repeats_patch_the_series_and_differences_do_not_fold() -> None:
    sink, clock = FakeSink(), Clock()
    events = recorder(sink, clock)
    await events.emit(POD, type="Normal", reason="R", action="A", note="n")
    clock.now += 2 * S
    await events.emit(POD, type="Normal", reason="R", action="A", note="n")
    await events.emit(POD, type="Normal", reason="R", action="A", note="other")
    await events.emit(POD, type="Warning", reason="R", action="A", note="n")
    await events.emit(NODE, type="Normal", reason="R", action="A", note="n")
    verbs = [(verb, path) for verb, path, _ in sink.calls]
    assert verbs == [
        ("create", "/apis/events.k8s.io/v1/namespaces/ns/events"),
        ("patch", f"/apis/events.k8s.io/v1/namespaces/ns/events/web.{T0:x}"),
        ("create", "/apis/events.k8s.io/v1/namespaces/ns/events"),
        ("create", "/apis/events.k8s.io/v1/namespaces/ns/events"),
        ("create", "/apis/events.k8s.io/v1/namespaces/default/events"),  # cluster-scoped
    ]
    assert sink.calls[1][2] == {
        "series": {"count": 2, "lastObservedTime": "2023-11-14T22:13:22.000000Z"}
    }


async def test_a_vanished_event_is_created_again() -> None:
    sink, clock = FakeSink(), Clock()
    events = recorder(sink, clock)
    await events.emit(POD, type="Normal", reason="R", action="A", note="n")
    sink.fail_patch = ApiError(404, "NotFound", "gone")
    clock.now += S
    await events.emit(POD, type="Normal", reason="R", action="A", note="n")
    assert [verb for verb, *_ in sink.calls] == ["create", "patch", "create"]
    sink.fail_patch = None
    await events.emit(POD, type="Normal", reason="R", action="A", note="n")
    assert sink.calls[-1][1].endswith(f"/events/web.{T0 + S:x}")


async def test_failures_are_logged_and_dropped(caplog: pytest.LogCaptureFixture) -> None:
    sink, clock = FakeSink(), Clock()
    events = recorder(sink, clock)
    sink.fail_create = ApiError(403, "Forbidden", "no")
    assert await events.emit(POD, type="Normal", reason="R", action="A", note="n") is None
    assert events.dropped == 1
    assert "dropping R event" in caplog.text
    sink.fail_create = None
    await events.emit(POD, type="Normal", reason="R", action="A", note="n")
    assert sink.calls[-1][0] == "create"  # the failed one was not remembered for folding


async def test_post_queues_and_run_sends() -> None:
    sink, clock = FakeSink(), Clock()
    events = recorder(sink, clock, queue_size=2)
    for reason in ("a", "b", "c"):
        events.post(POD, type="Normal", reason=reason, action="A", note="n")
    assert events.dropped == 1  # the queue holds two
    assert sink.calls == []
    async with asyncio.TaskGroup() as group:
        worker = group.create_task(events.run())
        await asyncio.wait_for(events.flush(), 1)
        worker.cancel()
    assert [body["reason"] for _, _, body in sink.calls] == ["a", "b"]


async def test_long_notes_are_cut() -> None:
    sink, clock = FakeSink(), Clock()
    await recorder(sink, clock).emit(POD, type="Normal", reason="R", action="A", note="x" * 5000)
    assert len(sink.calls[0][2]["note"]) == 1024


@pytest.mark.parametrize(
    "obj", [{"kind": "Pod", "metadata": {}}, {"metadata": {"name": "x"}}, {"kind": "Pod"}]
)
def test_an_event_needs_a_kind_and_a_name(obj: Obj) -> None:
    with pytest.raises(ValueError, match="kind and a name"):
        object_reference(obj)


@pytest.mark.parametrize(
    ("ns", "text"),
    [
        (T0, "2023-11-14T22:13:20.000000Z"),
        (T0 + 123_456_789, "2023-11-14T22:13:20.123456Z"),
        (0, "1970-01-01T00:00:00.000000Z"),
    ],
)
def test_micro_time(ns: int, text: str) -> None:
    assert micro_time(ns) == text


async def test_queued_and_capacity() -> None:
    sink, clock = FakeSink(), Clock()
    events = recorder(sink, clock, queue_size=8)
    for i in range(3):
        events.post(POD, type="Normal", reason=f"r{i}", action="A", note="n")
    assert (events.queued, events.capacity) == (3, 8)
    async with asyncio.TaskGroup() as group:
        worker = group.create_task(events.run())
        await asyncio.wait_for(events.flush(), 1)
        worker.cancel()
    assert events.queued == 0
