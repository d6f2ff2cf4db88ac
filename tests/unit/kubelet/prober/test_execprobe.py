"""The exec probe over a fake runtime: exit codes, output, timeouts, runtime errors, $(VAR)."""

from __future__ import annotations

import pytest

from pocketkube.kubelet.prober.execprobe import exec_probe, expand, static_command
from pocketkube.kubelet.prober.fake import FakeExecRuntime
from pocketkube.kubelet.prober.outcome import Outcome, ProbeError
from pocketkube.runtime import cri

CMD = ("sh", "-c", "check")


def reply(exit_code: int, stdout: bytes = b"", stderr: bytes = b"") -> cri.ExecSyncResponse:
    return cri.ExecSyncResponse(stdout=stdout, stderr=stderr, exit_code=exit_code)


@pytest.mark.parametrize(
    ("answer", "outcome", "output"),
    [
        (reply(0, b"fine\n"), Outcome.SUCCESS, "fine\n"),
        (reply(1, b"out ", b"err"), Outcome.FAILURE, "out err"),
        (reply(2), Outcome.FAILURE, ""),
        (reply(1, b"x" * 20000), Outcome.FAILURE, "x" * 10240),
        (
            cri.RuntimeError_("DeadlineExceeded", "killed"),
            Outcome.FAILURE,
            'command "sh -c check" timed out',
        ),
    ],
)
async def test_exec_results(
    answer: cri.ExecSyncResponse | Exception, outcome: Outcome, output: str
) -> None:
    runtime = FakeExecRuntime(responses={CMD: answer})
    result = await exec_probe(runtime, container_id="c1", command=CMD, timeout_seconds=2)
    assert (result.outcome, result.output) == (outcome, output)
    assert runtime.calls == [("c1", CMD, 2)]


async def test_runtime_error_is_an_error_not_a_failure() -> None:
    runtime = FakeExecRuntime(default=cri.not_found("container c1"))
    with pytest.raises(ProbeError, match="container c1 not found"):
        await exec_probe(runtime, container_id="c1", command=CMD, timeout_seconds=1)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("$(A)", "1"),
        ("x$(A)y$(B)", "x1y"),
        ("$(MISSING)", "$(MISSING)"),
        ("$$(A)", "$(A)"),
        ("$", "$"),
        ("a$b", "a$b"),
        ("$(A", "$(A"),
        ("cost: $$5", "cost: $5"),
    ],
)
def test_expand(text: str, expected: str) -> None:
    assert expand(text, {"A": "1", "B": ""}) == expected


def test_static_command_uses_literal_env_only() -> None:
    container = {
        "env": [
            {"name": "PORT", "value": "8080"},
            {"name": "FROM_FIELD", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}},
        ]
    }
    command = ["curl", "localhost:$(PORT)", "$(FROM_FIELD)", "$(OTHER)"]
    assert static_command(command, container) == ("curl", "localhost:8080", "", "$(OTHER)")
