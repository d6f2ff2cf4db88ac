"""Fakes for tests of the prober and of its users (the kubelet, the lifecycle hooks).

- ``FakeProber``: a ``ProbeRunner`` answering from a script, so worker tests need no sockets;
- ``FakeStatusSource``: container statuses and pod IPs set by the test;
- ``FakeExecRuntime``: ``exec_sync`` answering from a script and recording the commands;
- ``FakeRecorder``: collects posted events;
- ``FakeProberManager``: the manager's interface without workers, for kubelet tests: containers
  are started when running and ready unless the test says otherwise, and the test fires
  ``on_failure``/``on_change`` itself.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any, Literal

from pocketkube.kubelet.prober.manager import FailureCallback, probed_containers
from pocketkube.kubelet.prober.results import Result
from pocketkube.kubelet.prober.spec import ProbeSpec, ProbeType
from pocketkube.runtime import cri

Obj = dict[str, Any]


@dataclass
class ProbeCall:
    probe_type: ProbeType
    container_name: str
    container_id: str
    pod_ip: str


class FakeProber:
    """Answers each probe type from its own list (``None`` = the probe errored); when a list runs
    out, its last answer repeats (``SUCCESS`` if it was empty)."""

    def __init__(self, script: dict[ProbeType, list[Result | None]] | None = None) -> None:
        self.script = {kind: list(answers) for kind, answers in (script or {}).items()}
        self.calls: list[ProbeCall] = []

    async def probe(
        self,
        probe_type: ProbeType,
        spec: ProbeSpec,
        *,
        pod: Obj,
        container: Obj,
        container_id: str,
        pod_ip: str,
    ) -> Result | None:
        self.calls.append(ProbeCall(probe_type, container["name"], container_id, pod_ip))
        answers = self.script.get(probe_type) or [Result.SUCCESS]
        return answers.pop(0) if len(answers) > 1 else answers[0]


class FakeStatusSource:
    def __init__(self) -> None:
        self.statuses: dict[tuple[str, str], Obj] = {}
        self.pod_ips: dict[str, str] = {}

    def get_container_status(self, pod_uid: str, name: str) -> Obj | None:
        return self.statuses.get((pod_uid, name))

    def get_pod_ip(self, pod_uid: str) -> str | None:
        return self.pod_ips.get(pod_uid)

    def set_running(self, pod_uid: str, name: str, container_id: str, started_at: str) -> None:
        self.statuses[(pod_uid, name)] = {
            "name": name,
            "containerID": container_id,
            "state": {"running": {"startedAt": started_at}},
        }

    def set_terminated(self, pod_uid: str, name: str, container_id: str, exit_code: int) -> None:
        self.statuses[(pod_uid, name)] = {
            "name": name,
            "containerID": container_id,
            "state": {"terminated": {"exitCode": exit_code}},
        }


@dataclass
class FakeExecRuntime:
    """``exec_sync`` for probes and hooks: ``responses`` by command (else ``default``); an
    exception in either is raised; ``delay`` seconds pass before answering."""

    responses: dict[tuple[str, ...], cri.ExecSyncResponse | Exception] = field(default_factory=dict)
    default: cri.ExecSyncResponse | Exception = field(
        default_factory=lambda: cri.ExecSyncResponse(stdout=b"", stderr=b"", exit_code=0)
    )
    delay: float = 0.0
    calls: list[tuple[str, tuple[str, ...], float]] = field(default_factory=list)

    async def exec_sync(
        self,
        container_id: str,
        cmd: tuple[str, ...],
        timeout: float,  # noqa: ASYNC109 - CRI's ExecSync signature
    ) -> cri.ExecSyncResponse:
        self.calls.append((container_id, cmd, timeout))
        if self.delay:
            await asyncio.sleep(self.delay)
        answer = self.responses.get(cmd, self.default)
        if isinstance(answer, Exception):
            raise answer
        return answer


@dataclass
class PostedEvent:
    regarding: Obj
    type: str
    reason: str
    action: str
    note: str


class FakeRecorder:
    def __init__(self) -> None:
        self.events: list[PostedEvent] = []

    def post(
        self,
        regarding: Obj,
        *,
        type: Literal["Normal", "Warning"],
        reason: str,
        action: str,
        note: str,
        related: Obj | None = None,
    ) -> None:
        self.events.append(PostedEvent(regarding, type, reason, action, note))

    def notes(self, reason: str | None = None) -> list[str]:
        return [e.note for e in self.events if reason is None or e.reason == reason]


class FakeProberManager:
    """``ProberManager``'s interface with no probing at all."""

    def __init__(
        self,
        *,
        on_failure: FailureCallback | None = None,
        on_change: Callable[[str], None] | None = None,
    ) -> None:
        self.on_failure = on_failure
        self.on_change = on_change
        self.pods: dict[str, Obj] = {}
        self.terminating: set[str] = set()
        self.not_ready: set[tuple[str, str]] = set()  # (pod uid, container name)
        self.not_started: set[tuple[str, str]] = set()

    async def run(self) -> None:
        await asyncio.Future()

    def add_pod(self, pod: Obj) -> None:
        self.pods[pod["metadata"]["uid"]] = pod

    def remove_pod(self, pod_uid: str) -> None:
        self.pods.pop(pod_uid, None)
        self.terminating.discard(pod_uid)

    def set_terminating(self, pod_uid: str) -> None:
        self.terminating.add(pod_uid)

    def cleanup_pods(self, active_uids: Iterable[str]) -> None:
        for uid in set(self.pods) - set(active_uids):
            self.remove_pod(uid)

    def update_pod_status(self, pod: Obj, status: Obj) -> None:
        uid = pod["metadata"]["uid"]
        probed = {c["name"] for c in probed_containers(pod)}
        for container_status in status.get("initContainerStatuses") or []:
            if container_status["name"] not in probed:  # a plain init container
                state = container_status.get("state") or {}
                container_status["started"] = state.get("running") is not None
                container_status["ready"] = (state.get("terminated") or {}).get("exitCode") == 0
                continue
            self._fill(uid, container_status)
        for container_status in status.get("containerStatuses") or []:
            self._fill(uid, container_status)

    def _fill(self, uid: str, container_status: Obj) -> None:
        running = (container_status.get("state") or {}).get("running") is not None
        key = (uid, container_status["name"])
        started = running and key not in self.not_started
        container_status["started"] = started
        container_status["ready"] = started and key not in self.not_ready

    def set_ready(self, pod_uid: str, name: str, ready: bool) -> None:
        (self.not_ready.discard if ready else self.not_ready.add)((pod_uid, name))
        if self.on_change is not None:
            self.on_change(pod_uid)
