"""Nominated pods: preemption's reservations, kept in step with pod updates and deletes."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from pocketkube.scheduler.framework.fake import DictLister, make_pod
from pocketkube.scheduler.framework.interface import QueuedPodInfo
from pocketkube.scheduler.framework.status import unresolvable
from pocketkube.scheduler.framework.types import PodInfo
from pocketkube.scheduler.nominator import Nominator
from pocketkube.scheduler.queue import SchedulingQueue


def nominated(name: str, node: str = "", **kwargs: Any) -> dict[str, Any]:
    pod = make_pod(name, **kwargs)
    if node:
        pod["status"]["nominatedNodeName"] = node
    return pod


def names(infos: list[PodInfo]) -> list[str]:
    return [info.pod["metadata"]["name"] for info in infos]


def by_node(nominator: Nominator, *nodes: str) -> dict[str, list[str]]:
    return {node: names(nominator.pods_for_node(node)) for node in nodes}


@pytest.mark.parametrize(
    ("status_node", "node_name", "expected"),
    [
        pytest.param("n1", None, {"n1": ["a"], "n2": []}, id="from-status"),
        pytest.param("", "n2", {"n1": [], "n2": ["a"]}, id="explicit"),
        pytest.param("n1", "n2", {"n1": [], "n2": ["a"]}, id="explicit-overrides-status"),
        pytest.param("", None, {"n1": [], "n2": []}, id="none"),
        pytest.param("n1", "", {"n1": [], "n2": []}, id="empty-clears"),
    ],
)
def test_add(status_node: str, node_name: str | None, expected: dict[str, list[str]]) -> None:
    nominator = Nominator()
    nominator.add(PodInfo(nominated("a", status_node)), node_name)
    assert by_node(nominator, "n1", "n2") == expected


def test_add_twice_moves_the_pod() -> None:
    nominator = Nominator()
    pod = nominated("a")
    nominator.add(PodInfo(pod), "n1")
    nominator.add(PodInfo(nominated("b")), "n1")
    nominator.add(PodInfo(pod), "n1")
    nominator.add(PodInfo(pod), "n2")
    assert by_node(nominator, "n1", "n2") == {"n1": ["b"], "n2": ["a"]}
    assert nominator.node_of("uid-default-a") == "n2"
    assert len(nominator) == 2


@pytest.mark.parametrize(
    ("old_node", "new_node", "expected"),
    [
        pytest.param("", "", {"n1": ["a"], "n2": []}, id="api-not-caught-up-keeps-nomination"),
        pytest.param("", "n2", {"n1": [], "n2": ["a"]}, id="field-set"),
        pytest.param("n1", "n2", {"n1": [], "n2": ["a"]}, id="field-changed"),
        pytest.param("n1", "", {"n1": [], "n2": []}, id="field-removed"),
    ],
)
def test_update(old_node: str, new_node: str, expected: dict[str, list[str]]) -> None:
    nominator = Nominator()
    old = nominated("a", old_node)
    nominator.add(PodInfo(old), "n1")
    new = nominated("a", new_node, labels={"v": "2"})
    nominator.update(old, PodInfo(new))
    assert by_node(nominator, "n1", "n2") == expected
    for info in nominator.pods_for_node("n1") + nominator.pods_for_node("n2"):
        assert info.pod is new


def test_delete() -> None:
    nominator = Nominator()
    pod = nominated("a", "n1")
    nominator.add(PodInfo(pod))
    nominator.delete(pod)
    nominator.delete(pod)  # already gone: nothing to do
    assert by_node(nominator, "n1") == {"n1": []}
    assert len(nominator) == 0


@pytest.mark.parametrize(
    ("live", "expected"),
    [
        pytest.param(None, [], id="deleted-meanwhile"),
        pytest.param({"nodeName": "n9"}, [], id="bound-meanwhile"),
        pytest.param({}, ["a"], id="still-pending"),
    ],
)
def test_add_checks_the_lister(live: dict[str, Any] | None, expected: list[str]) -> None:
    lister = DictLister()
    if live is not None:
        lister.add(make_pod("a", spec=live))
    nominator = Nominator(pod_lister=lister)
    nominator.add(PodInfo(nominated("a")), "n1")
    assert names(nominator.pods_for_node("n1")) == expected


# -- through the queue ------------------------------------------------------------------------
def new_queue() -> SchedulingQueue:
    def less(a: QueuedPodInfo, b: QueuedPodInfo) -> bool:
        return a.timestamp < b.timestamp

    return SchedulingQueue(less=less, clock=lambda: 0.0)


def test_queue_follows_nominated_node_name() -> None:
    queue = new_queue()
    pod = nominated("a", "n1", cpu="1")
    queue.add(pod)
    assert names(queue.nominated_pods_for_node("n1")) == ["a"]
    # The newest queued version is what filters see.
    bigger = nominated("a", "n1", cpu="2")
    queue.update(pod, bigger)
    [info] = queue.nominated_pods_for_node("n1")
    assert info.requests.milli_cpu == 2000
    moved = nominated("a", "n2", cpu="2")
    queue.update(bigger, moved)
    assert names(queue.nominated_pods_for_node("n1")) == []
    assert names(queue.nominated_pods_for_node("n2")) == ["a"]
    queue.delete(moved)
    assert queue.nominated_pods_for_node("n2") == []


async def test_preemption_nominates_before_the_api_write() -> None:
    queue = new_queue()
    pod = nominated("a")
    queue.add(pod)
    info = await asyncio.wait_for(queue.pop(), 1)
    queue.add_nominated_pod(info.pod_info, "n1")
    # In flight the pod is in no queue: the PodInfo given at nomination is used.
    assert queue.nominated_pods_for_node("n1") == [info.pod_info]
    info.unschedulable_plugins = {"NodeResourcesFit"}
    queue.add_unschedulable_if_not_present(info, queue.scheduling_cycle)
    # A status update that does not carry the field yet keeps the reservation.
    queue.update(pod, nominated("a", labels={"x": "y"}))
    assert names(queue.nominated_pods_for_node("n1")) == ["a"]
    queue.delete_nominated_pod_if_exists(pod)
    assert queue.nominated_pods_for_node("n1") == []


def test_gated_pod_is_not_nominated_on_add() -> None:
    queue = SchedulingQueue(
        less=lambda a, b: a.timestamp < b.timestamp,
        pre_enqueue=lambda pod: unresolvable("gated").with_plugin("SchedulingGates"),
    )
    queue.add(nominated("a", "n1"))
    assert queue.nominated_pods_for_node("n1") == []
