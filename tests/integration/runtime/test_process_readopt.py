"""A runtime started on the same root dir after a crash re-adopts what the first one left.

The first runtime is dropped without stopping anything, as a kill -9 of the kubelet leaves
things: its shims and containers keep running (and keep logging); the second runtime must see
them RUNNING with the same pids, see the ones that exited meanwhile with their exit codes, and
be able to stop them.
"""

from __future__ import annotations

import gc
import signal
from pathlib import Path

from pocketkube.runtime import cri
from pocketkube.runtime.process import kill_everything, procs, read_log
from pocketkube.runtime.process.cgroups import NoCgroups
from pocketkube.runtime.process.network import HostNetwork
from pocketkube.runtime.process.runtime import ProcessRuntime
from tests.integration.runtime.process_support import (
    container_config,
    run_container,
    sandbox_config,
    wait_exited,
    wait_for,
)


def runtime(root: Path) -> ProcessRuntime:
    return ProcessRuntime(
        root_dir=root,
        network=HostNetwork(node_ip="127.0.0.1"),
        cgroups=NoCgroups(),
        node_ip="127.0.0.1",
    )


async def test_a_new_runtime_re_adopts_running_and_exited_containers(tmp_path: Path) -> None:
    root = tmp_path / "root"
    flag = tmp_path / "exit-now"
    try:
        first = runtime(root)
        sandbox = await first.run_pod_sandbox(
            sandbox_config("p", log_directory=str(tmp_path / "l"))
        )
        ticker = "i=0; while :; do echo tick $i; i=$((i+1)); sleep 0.05; done"
        long = await run_container(first, sandbox, container_config("long", "sh", "-c", ticker))
        waits = f"while [ ! -e {flag} ]; do sleep 0.02; done; exit 5"
        short = await run_container(first, sandbox, container_config("short", "sh", "-c", waits))
        stubborn = await run_container(
            first, sandbox, container_config("stubborn", "sh", "-c", "trap '' TERM; sleep 60")
        )
        before = {cid: await first.container_status(cid) for cid in (long, short, stubborn)}
        del first  # gone without a word, as after kill -9
        gc.collect()

        flag.touch()  # "short" exits while no runtime is there
        log = before[long].log_path
        seen = len(read_log(log))
        await wait_for(lambda: len(read_log(log)) > seen + 2, what="logging without a runtime")

        second = runtime(root)
        status = await second.container_status(long)
        assert status.state == cri.ContainerState.RUNNING
        assert status.pid == before[long].pid
        assert status.started_at == before[long].started_at
        assert (await second.pod_sandbox_status(sandbox)).state == cri.SandboxState.READY
        exited = await wait_exited(second, short)
        assert (exited.exit_code, exited.reason) == (5, "Error")
        running = await second.list_containers(
            cri.ContainerFilter(state=cri.ContainerState.RUNNING)
        )
        assert {c.id for c in running} == {long, stubborn}

        await second.stop_container(long, 5)
        assert (await second.container_status(long)).exit_code == 128 + signal.SIGTERM
        await second.stop_container(stubborn, 0.2)
        assert (await second.container_status(stubborn)).exit_code == 128 + signal.SIGKILL
        gone = second.store.started(long)
        assert gone is not None
        assert not procs.alive(gone.pid, gone.start_ticks)

        # and it can start new containers (through the fork server the first one left, or anew)
        again = await run_container(second, sandbox, container_config("again", "true"))
        assert (await wait_exited(second, again)).reason == "Completed"
        second.close()
    finally:
        kill_everything(root)


async def test_kill_everything_leaves_nothing(tmp_path: Path) -> None:
    root = tmp_path / "root"
    rt = runtime(root)
    sandbox = await rt.run_pod_sandbox(sandbox_config("p"))
    cids = [
        await run_container(
            rt, sandbox, container_config(f"c{i}", "sh", "-c", "trap '' TERM; sleep 60")
        )
        for i in range(3)
    ]
    started = [rt.store.started(cid) for cid in cids]
    kill_everything(root)
    for s in started:
        assert s is not None
        assert not procs.alive(s.pid, s.start_ticks)
        assert not procs.alive(s.shim_pid, s.shim_start_ticks)
    rt.close()
