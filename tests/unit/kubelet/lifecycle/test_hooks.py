"""Lifecycle hooks over a fake runtime: exec results and messages, sleep, invalid handlers."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from pocketkube.client.clock import FakeClock
from pocketkube.kubelet.lifecycle import HookRunner
from pocketkube.kubelet.lifecycle.fake import FakeHookRunner
from pocketkube.kubelet.prober.fake import FakeExecRuntime
from pocketkube.runtime import cri

POD = {"metadata": {"name": "web", "namespace": "default", "uid": "u1"}}
CONTAINER = {"name": "app", "ports": [{"name": "http", "containerPort": 8080}]}
WHERE = 'for Container "app" in Pod "web_default(u1)"'


def reply(exit_code: int, stdout: bytes = b"", stderr: bytes = b"") -> cri.ExecSyncResponse:
    return cri.ExecSyncResponse(stdout=stdout, stderr=stderr, exit_code=exit_code)


async def run(runner: HookRunner, handler: dict[str, Any], pod_ip: str = "10.0.0.1") -> str | None:
    return await runner.run(handler, pod=POD, container=CONTAINER, container_id="c1", pod_ip=pod_ip)


@pytest.mark.parametrize(
    ("answer", "message"),
    [
        (reply(0, b"done"), None),
        (
            reply(3, b"out", b"err"),
            f"Exec lifecycle hook ([sh -c exit 3]) {WHERE} failed - error: "
            "command 'sh -c exit 3' exited with 3: err, message: \"outerr\"",
        ),
        (
            cri.RuntimeError_("NotFound", "container c1 not found"),
            f"Exec lifecycle hook ([sh -c exit 3]) {WHERE} failed - error: "
            'container c1 not found, message: ""',
        ),
    ],
)
async def test_exec(answer: cri.ExecSyncResponse | Exception, message: str | None) -> None:
    runtime = FakeExecRuntime(default=answer)
    got = await run(HookRunner(runtime=runtime), {"exec": {"command": ["sh", "-c", "exit 3"]}})
    assert got == message
    assert runtime.calls == [("c1", ("sh", "-c", "exit 3"), 0)]  # no timeout of its own


async def test_exec_is_cancellable() -> None:
    runtime = FakeExecRuntime(delay=60)
    task = asyncio.create_task(run(HookRunner(runtime=runtime), {"exec": {"command": ["x"]}}))
    await asyncio.sleep(0.01)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task


async def test_sleep_waits_on_the_clock() -> None:
    clock = FakeClock()
    runner = HookRunner(runtime=FakeExecRuntime(), clock=clock)
    task = asyncio.create_task(run(runner, {"sleep": {"seconds": 5}}))
    await asyncio.sleep(0)
    clock.advance(4.9)
    await asyncio.sleep(0)
    assert not task.done()
    clock.advance(0.1)
    assert await asyncio.wait_for(task, 1) is None


@pytest.mark.parametrize(
    ("handler", "message"),
    [
        (
            {"tcpSocket": {"port": 80}},
            "Cannot run handler: invalid handler: {'tcpSocket': {'port': 80}}",
        ),
        (
            {"httpGet": {"port": "nope", "path": "/x"}},
            f'HTTP lifecycle hook (/x) {WHERE} failed - error: strconv.Atoi: parsing "nope": '
            "invalid syntax",
        ),
    ],
)
async def test_invalid_handlers(handler: dict[str, Any], message: str) -> None:
    assert await run(HookRunner(runtime=FakeExecRuntime()), handler) == message


async def test_http_without_pod_ip() -> None:
    message = await run(HookRunner(runtime=FakeExecRuntime()), {"httpGet": {"port": 80}}, "")
    assert message is not None
    assert "failed to find networking container" in message


async def test_fake_hook_runner() -> None:
    fake = FakeHookRunner(failures={"app": "boom"})
    message = await fake.run(
        {"sleep": {"seconds": 1}}, pod=POD, container=CONTAINER, container_id="c1", pod_ip=""
    )
    assert message == "boom"
    assert fake.calls[0].container_name == "app"
