"""Containers of the process runtime as real processes: lifecycle, states, reasons, logs."""

from __future__ import annotations

import signal
from pathlib import Path

import pytest

from pocketkube.runtime import cri
from pocketkube.runtime.process import procs, read_log
from pocketkube.runtime.process.runtime import ProcessRuntime
from pocketkube.runtime.process.shimlog import rotated_files
from tests.integration.runtime.process_support import (
    container_config,
    process_runtime,
    run_container,
    sandbox_config,
    wait_exited,
    wait_for,
)

RUNNING = cri.ContainerState.RUNNING
EXITED = cri.ContainerState.EXITED


@pytest.fixture
async def rt(tmp_path: Path) -> object:
    async with process_runtime(tmp_path / "root") as runtime:
        yield runtime


@pytest.fixture
async def sandbox(rt: ProcessRuntime, tmp_path: Path) -> str:
    return await rt.run_pod_sandbox(sandbox_config("pod", log_directory=str(tmp_path / "logs")))


async def test_lifecycle_of_a_container_that_completes(
    rt: ProcessRuntime, sandbox: str, tmp_path: Path
) -> None:
    config = container_config(
        "app",
        "sh",
        "-c",
        'echo "out $GREETING"; echo err >&2; printf partial; sleep 0.3; exit 0',
        envs=(cri.KeyValue("GREETING", "hello"),),
        labels={"tier": "web"},
    )
    cid = await rt.create_container(sandbox, config, sandbox_config("pod"))
    status = await rt.container_status(cid)
    assert status.state == cri.ContainerState.CREATED
    assert status.log_path == str(tmp_path / "logs" / "app" / "0.log")
    assert (await rt.list_containers(cri.ContainerFilter(id=cid)))[0].image_ref.startswith(
        "sha256:"
    )

    await rt.start_container(cid)
    status = await rt.container_status(cid)
    assert status.state == RUNNING
    assert status.started_at > 0
    assert status.pid > 0
    assert procs.start_ticks(status.pid) > 0
    with pytest.raises(cri.RuntimeError_) as err:
        await rt.start_container(cid)  # only once
    assert err.value.code == "FailedPrecondition"

    status = await wait_exited(rt, cid)
    assert (status.exit_code, status.reason, status.pid) == (0, "Completed", 0)
    assert status.finished_at >= status.started_at
    assert read_log(status.log_path) == [
        ("stdout", "out hello"),
        ("stderr", "err"),
        ("stdout", "partial"),
    ] or sorted(read_log(status.log_path)) == [
        ("stderr", "err"),
        ("stdout", "out hello"),
        ("stdout", "partial"),
    ]

    await rt.remove_container(cid)
    with pytest.raises(cri.RuntimeError_) as err:
        await rt.container_status(cid)
    assert err.value.code == "NotFound"
    assert read_log(status.log_path)  # logs stay until the sandbox goes
    await rt.remove_container(cid)  # idempotent
    await rt.remove_pod_sandbox(sandbox)
    assert read_log(status.log_path) == []  # gone with the sandbox


@pytest.mark.parametrize(
    ("script", "code", "reason"),
    [
        ("exit 3", 3, "Error"),
        ("kill -USR1 $$", 128 + signal.SIGUSR1, "Error"),
        ("true", 0, "Completed"),
    ],
)
async def test_exit_codes_and_reasons(
    rt: ProcessRuntime, sandbox: str, script: str, code: int, reason: str
) -> None:
    cid = await run_container(rt, sandbox, container_config("c", "sh", "-c", script))
    status = await wait_exited(rt, cid)
    assert (status.exit_code, status.reason) == (code, reason)


@pytest.mark.parametrize(
    ("command", "message"),
    [
        (
            ("no-such-command-xyz",),
            'exec: "no-such-command-xyz": executable file not found in $PATH',
        ),
        (
            ("/no/such/file",),
            'exec: "/no/such/file": stat /no/such/file: no such file or directory',
        ),
        (("/",), 'exec: "/": is a directory'),
    ],
)
async def test_start_error(
    rt: ProcessRuntime, sandbox: str, command: tuple[str, ...], message: str
) -> None:
    cid = await rt.create_container(sandbox, container_config("c", *command), sandbox_config())
    with pytest.raises(cri.RuntimeError_) as err:
        await rt.start_container(cid)
    assert message in err.value.message
    status = await rt.container_status(cid)
    assert (status.state, status.reason, status.exit_code) == (EXITED, "StartError", 128)
    assert status.message == f"unable to start container process: {message}"


async def test_start_error_of_a_file_that_is_not_executable(
    rt: ProcessRuntime, sandbox: str, tmp_path: Path
) -> None:
    plain = tmp_path / "plain"
    plain.write_text("echo hi")
    cid = await rt.create_container(sandbox, container_config("c", str(plain)), sandbox_config())
    with pytest.raises(cri.RuntimeError_, match=f'exec: "{plain}": permission denied'):
        await rt.start_container(cid)


async def test_stop_sends_sigterm_first(rt: ProcessRuntime, sandbox: str) -> None:
    script = "trap 'echo got TERM; exit 7' TERM; echo ready; while :; do sleep 0.05; done"
    cid = await run_container(rt, sandbox, container_config("c", "sh", "-c", script))
    log = (await rt.container_status(cid)).log_path
    await wait_for(lambda: ("stdout", "ready") in read_log(log), what="ready")
    await rt.stop_container(cid, 10)
    status = await rt.container_status(cid)
    assert (status.state, status.exit_code, status.reason) == (EXITED, 7, "Error")
    assert ("stdout", "got TERM") in read_log(log)  # the log is complete once stopped
    await rt.stop_container(cid, 10)  # idempotent


async def test_stop_kills_what_ignores_sigterm_at_the_timeout(
    rt: ProcessRuntime, sandbox: str
) -> None:
    script = "trap '' TERM; echo ready; while :; do sleep 0.05; done"
    cid = await run_container(rt, sandbox, container_config("c", "sh", "-c", script))
    log = (await rt.container_status(cid)).log_path
    await wait_for(lambda: ("stdout", "ready") in read_log(log), what="ready")
    loop = __import__("asyncio").get_running_loop()
    began = loop.time()
    await rt.stop_container(cid, 0.5)
    assert loop.time() - began >= 0.5
    status = await rt.container_status(cid)
    assert (status.exit_code, status.reason) == (128 + signal.SIGKILL, "Error")


async def test_stop_with_zero_timeout_kills_at_once(rt: ProcessRuntime, sandbox: str) -> None:
    cid = await run_container(rt, sandbox, container_config("c", "sleep", "60"))
    await rt.stop_container(cid, 0)
    assert (await rt.container_status(cid)).exit_code == 128 + signal.SIGKILL


async def test_the_whole_tree_dies(rt: ProcessRuntime, sandbox: str, tmp_path: Path) -> None:
    pids = tmp_path / "pids"
    script = (
        f"sleep 300 & echo $! >> {pids}; "
        f"(setsid sleep 300 & echo $! >> {pids}); "  # a daemon: other session, re-parented
        f"sh -c 'sleep 300 & echo $! >> {pids}; wait' & "
        "wait"
    )
    cid = await run_container(rt, sandbox, container_config("c", "sh", "-c", script))
    await wait_for(lambda: pids.exists() and len(pids.read_text().split()) == 3, what="children")
    children = [int(p) for p in pids.read_text().split()]
    ticks = {pid: procs.start_ticks(pid) for pid in children}
    assert all(procs.alive(pid, t) for pid, t in ticks.items())
    await rt.stop_container(cid, 5)
    left = {pid: procs.stat_fields(pid) for pid, t in ticks.items() if procs.alive(pid, t)}
    assert not left, (left, await rt.container_status(cid))


async def test_a_child_left_when_the_main_process_exits_is_killed(
    rt: ProcessRuntime, sandbox: str, tmp_path: Path
) -> None:
    pid_file = tmp_path / "pid"
    script = f"(setsid sleep 300 & echo $! > {pid_file}); exit 0"
    cid = await run_container(rt, sandbox, container_config("c", "sh", "-c", script))
    status = await wait_exited(rt, cid)
    assert status.reason == "Completed"
    pid = int(pid_file.read_text())
    assert procs.stat_fields(pid) is None or procs.stat_fields(pid)[0] in ("Z", "X")  # type: ignore[index]


async def test_list_and_filters(rt: ProcessRuntime, sandbox: str, tmp_path: Path) -> None:
    other = await rt.run_pod_sandbox(sandbox_config("other"))
    running = await run_container(
        rt, sandbox, container_config("run", "sleep", "60", labels={"k": "a"})
    )
    done = await run_container(rt, sandbox, container_config("done", "true", labels={"k": "b"}))
    created = await rt.create_container(
        other, container_config("new", "true", labels={"k": "a"}), sandbox_config("other")
    )
    await wait_exited(rt, done)

    async def ids(f: cri.ContainerFilter | None = None) -> set[str]:
        return {c.id for c in await rt.list_containers(f)}

    assert await ids() == {running, done, created}
    assert await ids(cri.ContainerFilter(state=RUNNING)) == {running}
    assert await ids(cri.ContainerFilter(state=EXITED)) == {done}
    assert await ids(cri.ContainerFilter(state=cri.ContainerState.CREATED)) == {created}
    assert await ids(cri.ContainerFilter(pod_sandbox_id=other)) == {created}
    assert await ids(cri.ContainerFilter(label_selector={"k": "a"})) == {running, created}
    assert await ids(cri.ContainerFilter(id=done[:12])) == {done}
    listed = (await rt.list_containers(cri.ContainerFilter(id=running)))[0]
    assert (listed.metadata.name, listed.pod_sandbox_id, listed.labels) == (
        "run",
        sandbox,
        {"k": "a"},
    )

    await rt.stop_pod_sandbox(sandbox)  # kills its containers
    assert await ids(cri.ContainerFilter(state=RUNNING)) == set()
    await rt.remove_pod_sandbox(sandbox)
    assert await ids() == {created}


async def test_a_name_is_reserved_per_attempt(rt: ProcessRuntime, sandbox: str) -> None:
    await rt.create_container(sandbox, container_config("c", "true"), sandbox_config())
    with pytest.raises(cri.RuntimeError_) as err:
        await rt.create_container(sandbox, container_config("c", "true"), sandbox_config())
    assert err.value.code == "AlreadyExists"


async def test_mounts_working_dir_and_environment(
    rt: ProcessRuntime, sandbox: str, tmp_path: Path
) -> None:
    volume = tmp_path / "volume"
    volume.mkdir()
    (volume / "key").write_text("secret-value")
    script = 'cat "$POCKETKUBE_ROOT/etc/config/key"; echo; pwd; echo "$HOSTNAME $A"'
    config = container_config(
        "c",
        "sh",
        "-c",
        script,
        mounts=(cri.Mount("/etc/config", str(volume)),),
        working_dir="/app/work",
        envs=(cri.KeyValue("A", "b"),),
    )
    cid = await run_container(rt, sandbox, config)
    status = await wait_exited(rt, cid)
    lines = [line for _, line in read_log(status.log_path)]
    root = rt.store.container(cid).root  # type: ignore[union-attr]
    assert lines == ["secret-value", f"{root}/app/work", "pod b"]


def size(path: str) -> int:
    return Path(path).stat().st_size


async def test_log_rotation(tmp_path: Path) -> None:
    async with process_runtime(tmp_path / "root", log_max_size=4096, log_max_files=2) as rt:
        sandbox = await rt.run_pod_sandbox(sandbox_config("p", log_directory=str(tmp_path / "l")))
        script = "i=0; while [ $i -lt 300 ]; do echo line $i; i=$((i+1)); done"
        cid = await run_container(rt, sandbox, container_config("c", "sh", "-c", script))
        status = await wait_exited(rt, cid)
        rotated = rotated_files(status.log_path)
        assert len(rotated) == 1
        assert all(size(p) <= 4096 for p in [*rotated, status.log_path])
        kept = [line for p in [*rotated, status.log_path] for _, line in read_log(p)]
        assert kept[-1] == "line 299"
        first = int(kept[0].split()[1])
        assert first > 0  # the oldest file went
        assert kept == [f"line {i}" for i in range(first, 300)]


async def test_exec_sync(rt: ProcessRuntime, sandbox: str, tmp_path: Path) -> None:
    config = container_config(
        "c", "sleep", "60", envs=(cri.KeyValue("A", "from-pod"),), working_dir=str(tmp_path)
    )
    cid = await run_container(rt, sandbox, config)
    result = await rt.exec_sync(cid, ("sh", "-c", 'echo "$A $(pwd)"; echo e >&2; exit 4'), 10)
    assert result == cri.ExecSyncResponse(
        stdout=f"from-pod {tmp_path}\n".encode(), stderr=b"e\n", exit_code=4
    )
    with pytest.raises(cri.RuntimeError_) as err:
        await rt.exec_sync(cid, ("sleep", "30"), 0.3)
    assert err.value.code == "DeadlineExceeded"
    with pytest.raises(cri.RuntimeError_) as err:
        await rt.exec_sync(cid, ("no-such-command-xyz",), 5)
    assert "executable file not found in $PATH" in err.value.message
    await rt.stop_container(cid, 0)
    with pytest.raises(cri.RuntimeError_) as err:
        await rt.exec_sync(cid, ("true",), 5)
    assert err.value.code == "FailedPrecondition"


async def test_images(rt: ProcessRuntime) -> None:
    ref = await rt.pull_image(cri.ImageSpec("busybox"))
    assert ref.startswith("sha256:")
    assert [i.id for i in await rt.list_images()] == [ref]
    assert await rt.image_status(cri.ImageSpec("busybox")) is not None
    await rt.remove_image(cri.ImageSpec("busybox"))
    assert await rt.image_status(cri.ImageSpec("busybox")) is None


async def test_streaming_urls_are_refused_for_unknown_containers_and_sandboxes(
    rt: ProcessRuntime,
) -> None:
    """(test_process_stream_server.py serves real ones.)"""
    for call in (rt.exec, rt.attach, rt.port_forward):
        with pytest.raises(cri.RuntimeError_) as err:
            await call(cri.StreamRequest(container_id="nope", pod_sandbox_id="nope", cmd=("x",)))
        assert err.value.code == "NotFound"


async def test_logs_are_complete_and_exits_timed_for_quick_containers(
    rt: ProcessRuntime, sandbox: str
) -> None:
    """Many containers that exit at once: the shim must see each exit however it races its
    other wake-ups, and drain the whole log before recording it."""
    script = "printf one; echo; echo two; echo three >&2"
    cids = [
        await run_container(rt, sandbox, container_config(f"q{i}", "sh", "-c", script))
        for i in range(30)
    ]
    for cid in cids:
        status = await wait_exited(rt, cid)
        assert status.finished_at >= status.started_at > 0
        assert sorted(read_log(status.log_path)) == [
            ("stderr", "three"),
            ("stdout", "one"),
            ("stdout", "two"),
        ]
