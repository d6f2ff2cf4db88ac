"""What one probe means: its result and its event, for each outcome of the mechanism."""

from __future__ import annotations

from typing import Any

import pytest

from pocketkube.kubelet.prober.fake import FakeExecRuntime, FakeRecorder
from pocketkube.kubelet.prober.outcome import Outcome, ProbeError, ProbeOutput
from pocketkube.kubelet.prober.prober import Prober
from pocketkube.kubelet.prober.results import Result
from pocketkube.kubelet.prober.spec import ProbeSpec, ProbeType, parse_probe
from pocketkube.runtime import cri

POD = {"metadata": {"name": "web", "namespace": "default", "uid": "u1"}, "spec": {}}
CONTAINER = {"name": "app"}


class ScriptedProber(Prober):
    def __init__(self, answers: list[ProbeOutput | ProbeError]) -> None:
        self.recorder = FakeRecorder()
        super().__init__(runtime=FakeExecRuntime(), recorder=self.recorder)
        self.answers = answers
        self.attempts = 0

    async def run_action(self, spec: ProbeSpec, **_: Any) -> ProbeOutput:
        self.attempts += 1
        answer = self.answers[min(self.attempts, len(self.answers)) - 1]
        if isinstance(answer, ProbeError):
            raise answer
        return answer


@pytest.mark.parametrize(
    ("probe_type", "answers", "result", "attempts", "events"),
    [
        (ProbeType.LIVENESS, [ProbeOutput(Outcome.SUCCESS, "ok")], Result.SUCCESS, 1, []),
        (
            ProbeType.LIVENESS,
            [ProbeOutput(Outcome.FAILURE, "HTTP probe failed with statuscode: 500")],
            Result.FAILURE,
            1,
            [("Unhealthy", "Liveness probe failed: HTTP probe failed with statuscode: 500")],
        ),
        (
            ProbeType.READINESS,
            [ProbeOutput(Outcome.WARNING, "Probe terminated redirects, Response body: ")],
            Result.SUCCESS,
            1,
            [
                (
                    "ProbeWarning",
                    "Readiness probe warning: Probe terminated redirects, Response body: ",
                )
            ],
        ),
        (ProbeType.STARTUP, [ProbeOutput(Outcome.UNKNOWN)], Result.FAILURE, 1, []),
        (
            ProbeType.STARTUP,
            [ProbeError("port x not found")] * 3,
            None,
            3,
            [
                (
                    "Unhealthy",
                    "Startup probe errored and resulted in unknown state: port x not found",
                )
            ],
        ),
        (
            ProbeType.READINESS,
            [ProbeError("flaky"), ProbeOutput(Outcome.SUCCESS)],
            Result.SUCCESS,
            2,
            [],
        ),
    ],
)
async def test_outcomes(
    probe_type: ProbeType,
    answers: list[ProbeOutput | ProbeError],
    result: Result | None,
    attempts: int,
    events: list[tuple[str, str]],
) -> None:
    prober = ScriptedProber(answers)
    got = await prober.probe(
        probe_type,
        parse_probe({"exec": {"command": ["true"]}}),
        pod=POD,
        container=CONTAINER,
        container_id="c1",
        pod_ip="10.0.0.1",
    )
    assert got == result
    assert prober.attempts == attempts
    assert [(e.reason, e.note) for e in prober.recorder.events] == events
    for event in prober.recorder.events:
        assert event.type == "Warning"
        assert event.regarding["kind"] == "Pod"
        assert event.regarding["uid"] == "u1"
        assert event.regarding["fieldPath"] == f"spec.containers{{{CONTAINER['name']}}}"


async def test_exec_probe_end_to_end_over_the_fake_runtime() -> None:
    recorder = FakeRecorder()
    runtime = FakeExecRuntime(
        default=cri.ExecSyncResponse(
            stdout=b"", stderr=b"cat: /tmp/healthy: No such file", exit_code=1
        )
    )
    prober = Prober(runtime=runtime, recorder=recorder)
    container = {"name": "app", "env": [{"name": "F", "value": "/tmp/healthy"}]}
    spec = parse_probe({"exec": {"command": ["cat", "$(F)"]}, "timeoutSeconds": 4})
    result = await prober.probe(
        ProbeType.LIVENESS, spec, pod=POD, container=container, container_id="c9", pod_ip=""
    )
    assert result is Result.FAILURE
    assert runtime.calls == [("c9", ("cat", "/tmp/healthy"), 4)]
    assert recorder.notes("Unhealthy") == ["Liveness probe failed: cat: /tmp/healthy: No such file"]


async def test_missing_handler_errors() -> None:
    recorder = FakeRecorder()
    prober = Prober(runtime=FakeExecRuntime(), recorder=recorder)
    result = await prober.probe(
        ProbeType.READINESS,
        parse_probe({"periodSeconds": 1}),
        pod=POD,
        container=CONTAINER,
        container_id="c1",
        pod_ip="10.0.0.1",
    )
    assert result is None
    assert recorder.notes() == [
        "Readiness probe errored and resulted in unknown state: "
        "missing probe handler for web_default(u1):app"
    ]


async def test_tcp_probe_without_pod_ip_errors() -> None:
    recorder = FakeRecorder()
    prober = Prober(runtime=FakeExecRuntime(), recorder=recorder)
    spec = parse_probe({"tcpSocket": {"port": 80}})
    result = await prober.probe(
        ProbeType.READINESS, spec, pod=POD, container=CONTAINER, container_id="c1", pod_ip=""
    )
    assert result is None
    assert "no IP address" in recorder.notes()[0]
