"""The kubelet's sync over the fake runtime: pods start, report, restart, stop and go."""

from __future__ import annotations

import asyncio
import copy
from typing import Any

import pytest

from pocketkube.kubelet.podworkers import DONE, WAIT
from tests.unit.kubelet.harness import Harness, make_pod, state_of


async def test_a_new_pod_gets_a_sandbox_and_its_containers_run() -> None:
    h = Harness()
    uid = h.add(make_pod())["metadata"]["uid"]
    assert await h.settle(uid) == WAIT
    assert [c[0] for c in h.runtime.calls[:1]] == ["run_pod_sandbox"]
    assert h.recorder.reasons() == ["Pulled", "Created", "Started"]
    status = h.status(uid)
    assert status["phase"] == "Running"
    assert status["podIP"].startswith("10.42.")
    assert status["hostIP"] == "192.0.2.10"
    a = state_of(status, "a")
    assert "running" in a["state"]
    assert a["ready"]
    assert a["restartCount"] == 0
    assert a["containerID"].startswith("pocketkube://")
    conditions = {c["type"]: c["status"] for c in status["conditions"]}
    assert conditions == {
        "PodReadyToStartContainers": "True",
        "Initialized": "True",
        "Ready": "True",
        "ContainersReady": "True",
        "PodScheduled": "True",
    }
    assert status["qosClass"] == "BestEffort"


async def test_never_pod_that_fails_is_failed_and_not_restarted() -> None:
    h = Harness()
    uid = h.add(make_pod(policy="Never"))["metadata"]["uid"]
    await h.settle(uid)
    h.runtime.exit(h.runtime.running("a")[0], 3)
    await h.settle(uid)
    status = h.status(uid)
    assert status["phase"] == "Failed"
    terminated = state_of(status, "a")["state"]["terminated"]
    assert terminated["exitCode"] == 3
    assert terminated["reason"] == "Error"
    assert [c for c in h.runtime.calls if c[0] == "start_container"] == [("start_container", "a")]


async def test_a_finished_pod_keeps_the_address_its_stopped_sandbox_had() -> None:
    h = Harness()
    uid = h.add(make_pod(policy="Never"))["metadata"]["uid"]
    await h.settle(uid)
    ip = h.status(uid)["podIP"]
    h.runtime.exit(h.runtime.running("a")[0], 0)
    await h.settle(uid)
    status = h.status(uid)
    assert status["phase"] == "Succeeded"
    assert [c for c in h.runtime.calls if c[0] == "stop_pod_sandbox"]
    assert status["podIP"] == ip
    assert status["podIPs"] == [{"ip": ip}]


async def test_a_sandbox_that_cannot_be_made_is_retried_after_a_pause() -> None:
    h = Harness()
    pod = make_pod()
    h.runtime.sandbox_errors[pod["metadata"]["name"]] = "the bridge is taken"
    uid = h.add(pod)["metadata"]["uid"]
    again = await h.settle(uid)
    assert again is not None
    assert again >= 1
    assert [c for c in h.runtime.calls if c[0] == "run_pod_sandbox"] == [
        ("run_pod_sandbox", pod["metadata"]["name"])
    ]
    assert h.recorder.reasons() == ["FailedCreatePodSandBox"]
    del h.runtime.sandbox_errors[pod["metadata"]["name"]]
    await h.settle(uid)
    assert h.status(uid)["phase"] == "Running"


async def test_crash_loop_backs_off_with_crashloopbackoff() -> None:
    h = Harness()
    uid = h.add(make_pod())["metadata"]["uid"]
    await h.settle(uid)
    h.runtime.exit(h.runtime.running("a")[0], 1)
    assert await h.settle(uid) == WAIT  # first crash: restarted at once
    assert state_of(h.status(uid), "a")["restartCount"] == 1
    h.clock.now += 1
    h.runtime.exit(h.runtime.running("a")[0], 1)
    again = await h.settle(uid)
    assert again is not None
    assert 9 <= again <= 10
    a = state_of(h.status(uid), "a")
    assert a["state"]["waiting"]["reason"] == "CrashLoopBackOff"
    assert a["state"]["waiting"]["message"].startswith("back-off 10s restarting failed container=a")
    assert a["lastState"]["terminated"]["exitCode"] == 1
    assert "BackOff" in h.recorder.reasons()
    h.clock.now += again
    await h.settle(uid)
    a = state_of(h.status(uid), "a")
    assert "running" in a["state"]
    assert a["restartCount"] == 2


async def test_init_containers_run_one_at_a_time_in_order() -> None:
    h = Harness()
    init = [{"name": "i0", "command": ["x"]}, {"name": "i1", "command": ["y"]}]
    uid = h.add(make_pod(init=init))["metadata"]["uid"]
    await h.settle(uid)
    assert h.runtime.running("i0")
    assert not h.runtime.running("i1")
    assert not h.runtime.running("a")
    status = h.status(uid)
    assert status["phase"] == "Pending"
    assert state_of(status, "a")["state"]["waiting"]["reason"] == "PodInitializing"
    initialized = next(c for c in status["conditions"] if c["type"] == "Initialized")
    assert initialized["message"] == "containers with incomplete status: [i0 i1]"
    h.runtime.exit(h.runtime.running("i0")[0], 0)
    await h.settle(uid)
    assert h.runtime.running("i1")
    assert not h.runtime.running("a")
    h.runtime.exit(h.runtime.running("i1")[0], 0)
    await h.settle(uid)
    assert h.runtime.running("a")
    assert h.status(uid)["phase"] == "Running"


async def test_failing_init_container_fails_a_never_pod() -> None:
    h = Harness()
    uid = h.add(make_pod(policy="Never", init=[{"name": "i0", "command": ["x"]}]))["metadata"][
        "uid"
    ]
    await h.settle(uid)
    h.runtime.exit(h.runtime.running("i0")[0], 1)
    await h.settle(uid)
    assert h.status(uid)["phase"] == "Failed"
    assert not any(name == "a" for call, name in h.runtime.calls if call == "start_container")


async def test_deleted_pod_is_stopped_removed_and_confirmed() -> None:
    h = Harness()
    pod = h.add(make_pod())
    uid = pod["metadata"]["uid"]
    await h.settle(uid)
    pod["metadata"]["deletionTimestamp"] = "2024-01-01T00:00:00Z"
    pod["metadata"]["deletionGracePeriodSeconds"] = 30
    assert await h.settle(uid) == WAIT
    assert "Killing" in h.recorder.reasons()
    assert not h.runtime.sandboxes
    assert not h.runtime.containers
    assert h.status(uid)["phase"] == "Failed"  # SIGTERM: exit 143
    await h.status_manager._sync_one(uid, __import__("asyncio").Semaphore(1))
    assert h.client.deletes[-1][1] == {"gracePeriodSeconds": 0, "preconditions": {"uid": uid}}
    del h.pods.pods[uid]
    assert await h.kubelet.sync(uid) is DONE


async def test_orphans_are_killed_and_removed() -> None:
    h = Harness()
    uid = h.add(make_pod())["metadata"]["uid"]
    await h.settle(uid)
    del h.pods.pods[uid]
    assert await h.kubelet.sync(uid) is DONE
    assert not h.runtime.containers
    assert not h.runtime.sandboxes


async def test_liveness_failure_restarts_the_container() -> None:
    h = Harness()
    uid = h.add(make_pod())["metadata"]["uid"]
    await h.settle(uid)
    first = h.runtime.running("a")[0]
    h.kubelet.probe_failed(uid, first, "Liveness")
    await h.settle(uid)
    assert ("Normal", "Killing", "Container a failed liveness probe, will be restarted") in (
        h.recorder.events
    )
    a = state_of(h.status(uid), "a")
    assert "running" in a["state"]
    assert a["restartCount"] == 1
    assert a["lastState"]["terminated"]["exitCode"] == 143


async def test_configuration_errors_show_as_waiting_reasons() -> None:
    h = Harness()
    h.configs.errors["a"] = 'configmap "cfg" not found'
    uid = h.add(make_pod())["metadata"]["uid"]
    await h.settle(uid)
    waiting = state_of(h.status(uid), "a")["state"]["waiting"]
    assert waiting == {
        "reason": "CreateContainerConfigError",
        "message": 'configmap "cfg" not found',
    }
    assert ("Warning", "Failed", 'Error: configmap "cfg" not found') in h.recorder.events


async def test_post_start_failure_kills_the_container() -> None:
    h = Harness()
    h.hooks.fail = "PostStartHookError: command 'x' exited with 1"
    lifecycle = {"postStart": {"exec": {"command": ["x"]}}}
    containers = [{"name": "a", "command": ["sleep"], "lifecycle": lifecycle}]
    uid = h.add(make_pod(containers=containers))["metadata"]["uid"]
    await h.kubelet.sync(uid)
    assert "FailedPostStartHook" in h.recorder.reasons()
    assert not h.runtime.running("a")


async def test_active_deadline_fails_the_pod() -> None:
    h = Harness()
    uid = h.add(make_pod(activeDeadlineSeconds=5))["metadata"]["uid"]
    await h.settle(uid)
    h.clock.now += 6
    await h.settle(uid)
    status = h.status(uid)
    assert status["phase"] == "Failed"
    assert status["reason"] == "DeadlineExceeded"
    assert not h.runtime.running("a")
    assert "DeadlineExceeded" in h.recorder.reasons()


async def test_volumes_that_fail_to_mount_hold_the_pod_with_one_event_each() -> None:
    h = Harness()
    h.volumes.fail = 'MountVolume.SetUp failed for volume "cfg" : configmap "cfg" not found'
    uid = h.add(make_pod())["metadata"]["uid"]
    assert await h.kubelet.sync(uid) == 2.0
    assert ("Warning", "FailedMount", h.volumes.fail) in h.recorder.events
    assert not h.runtime.containers
    assert state_of(h.status(uid), "a")["state"]["waiting"]["reason"] == "ContainerCreating"
    h.volumes.fail = None
    await h.settle(uid)
    assert h.runtime.running("a")


async def test_a_readiness_change_is_reported_without_waiting_for_the_worker() -> None:
    h = Harness()
    pod = h.add(make_pod())
    uid = pod["metadata"]["uid"]
    await h.settle(uid)
    ready = {c["type"]: c for c in h.status(uid)["conditions"]}["Ready"]
    assert ready["status"] == "True"
    pod["metadata"]["deletionTimestamp"] = "2024-01-01T00:00:00Z"  # the app now fails readiness
    h.kubelet.probe_changed(uid)  # no sync ran: the worker could be busy stopping the pod
    conditions = {c["type"]: c for c in h.status(uid)["conditions"]}
    assert conditions["Ready"]["status"] == "False"
    assert conditions["Ready"]["reason"] == "ContainersNotReady"
    assert conditions["ContainersReady"]["status"] == "False"
    assert not state_of(h.status(uid), "a")["ready"]


async def test_a_pod_that_starts_at_once_is_written_once_running() -> None:
    """The status computed before the start is held, the one after it replaces it."""
    h = Harness()
    writer = asyncio.create_task(h.status_manager.run())
    try:
        uid = h.add(make_pod())["metadata"]["uid"]
        await h.settle(uid)
        await asyncio.sleep(0.05)
        assert [body["status"]["phase"] for _, body in h.client.patches] == ["Running"]
    finally:
        writer.cancel()


async def test_a_pod_that_cannot_start_yet_shows_container_creating_at_once() -> None:
    h = Harness()
    h.volumes.fail = 'MountVolume.SetUp failed for volume "cfg" : configmap "cfg" not found'
    writer = asyncio.create_task(h.status_manager.run())
    try:
        uid = h.add(make_pod())["metadata"]["uid"]
        assert await h.kubelet.sync(uid) == 2.0
        await asyncio.sleep(0.05)
        (_, body), *_ = h.client.patches
        waiting = state_of(body["status"], "a")["state"]["waiting"]
        assert waiting["reason"] == "ContainerCreating"
    finally:
        writer.cancel()


@pytest.mark.parametrize(
    ("change", "syncs"),
    [
        ({"status": {"phase": "Running", "podIP": "10.42.0.9"}}, False),  # our write, back
        ({"status": {"phase": "Failed"}}, True),  # someone else ended the pod
        ({"metadata": {"labels": {"a": "b"}}}, True),
        ({"metadata": {"annotations": {"a": "b"}}}, True),
        ({"metadata": {"deletionTimestamp": "2024-01-01T00:00:00Z"}}, True),
        (
            {
                "metadata": {"resourceVersion": "9", "managedFields": []},
                "status": {"phase": "Running"},
            },
            False,
        ),
        ({"status": {"phase": "Pending"}}, True),  # not what we report (yet): look again
        ({"spec": {"activeDeadlineSeconds": 5}}, True),
    ],
)
async def test_only_updates_that_concern_the_pod_sync_it(
    change: dict[str, Any], syncs: bool
) -> None:
    h = Harness()
    old = h.add(make_pod())
    uid = old["metadata"]["uid"]
    await h.settle(uid)
    new = copy.deepcopy(old)
    for key, fields in change.items():
        new.setdefault(key, {}).update(fields)
    h.kubelet.pod_updated(old, new)
    assert (uid in h.kubelet.workers.known()) is syncs


async def test_a_status_update_syncs_a_pod_with_readiness_gates() -> None:
    h = Harness()
    old = h.add(make_pod(readinessGates=[{"conditionType": "example.com/lb"}]))
    uid = old["metadata"]["uid"]
    await h.settle(uid)
    new = copy.deepcopy(old)
    gate = {"type": "example.com/lb", "status": "True"}
    new["status"] = {"phase": "Running", "conditions": [gate]}
    h.kubelet.pod_updated(old, new)
    assert uid in h.kubelet.workers.known()
