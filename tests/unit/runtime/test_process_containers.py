"""Container states and reasons derived from the records (no real container is started)."""

from __future__ import annotations

import os
from dataclasses import replace
from pathlib import Path

import pytest

from pocketkube.runtime import cri
from pocketkube.runtime.process import procs, shim
from pocketkube.runtime.process.containers import LOST_EXIT_CODE, Observer, reason_of
from pocketkube.runtime.process.state import ContainerRecord, Exited, Started, Store
from tests.unit.runtime.process_fakes import FakeCgroups

RECORD = ContainerRecord(
    id="c1",
    sandbox_id="s1",
    config=cri.ContainerConfig(
        metadata=cri.ContainerMetadata("app"), image=cri.ImageSpec("i"), command=("x",)
    ),
    created_at=1,
    image_ref="sha256:x",
    log_path="/l",
    cgroup_path="pocketkube/podu/c1",
    root="/r",
    cwd="/",
    env={},
)


@pytest.mark.parametrize(
    ("exited", "oom", "reason", "message"),
    [
        (Exited(exit_code=0, finished_at=1), False, "Completed", ""),
        (Exited(exit_code=1, finished_at=1), False, "Error", ""),
        (Exited(exit_code=137, finished_at=1, signal=9), False, "Error", ""),
        (Exited(exit_code=137, finished_at=1, signal=9), True, "OOMKilled", ""),
        (
            Exited(exit_code=128, finished_at=1, start_error='exec: "x": permission denied'),
            False,
            "StartError",
            'unable to start container process: exec: "x": permission denied',
        ),
    ],
)
def test_reasons(exited: Exited, oom: bool, reason: str, message: str) -> None:
    assert reason_of(exited, oom_killed=oom) == (reason, message)


def write(store: Store, name: str, text: str) -> None:
    (store.container_dir(RECORD.id) / name).write_text(text)


def test_states(tmp_path: Path) -> None:
    store = Store(tmp_path)
    store.save_container(RECORD, {})
    cgroups = FakeCgroups(oom={RECORD.cgroup_path})
    observer = Observer(store=store, cgroups=cgroups)
    assert observer.observe(RECORD).state == cri.ContainerState.CREATED

    me = os.getpid()
    ticks = procs.start_ticks(me)
    alive = Started(pid=me, start_ticks=ticks, started_at=5, shim_pid=me, shim_start_ticks=ticks)
    write(store, shim.STARTED, shim.encode(vars(alive)))
    observed = observer.observe(RECORD)
    assert (observed.state, observed.started) == (cri.ContainerState.RUNNING, alive)

    write(store, shim.EXITED, shim.encode({"exit_code": 137, "signal": 9, "finished_at": 7}))
    observed = observer.observe(RECORD)
    assert observed.state == cri.ContainerState.EXITED
    assert observed.exited is not None
    assert (observed.exited.exit_code, observed.exited.reason) == (137, "OOMKilled")
    cgroups.oom.clear()  # the reason was recorded once: a cgroup removed later changes nothing
    again = Observer(store=Store(tmp_path), cgroups=cgroups).observe(RECORD)
    assert again.exited is not None
    assert again.exited.reason == "OOMKilled"


def test_a_shim_killed_before_recording_the_exit(tmp_path: Path) -> None:
    store = Store(tmp_path)
    store.save_container(RECORD, {})
    gone = Started(
        pid=2**22 + 1, start_ticks=1, started_at=5, shim_pid=2**22 + 2, shim_start_ticks=1
    )
    write(store, shim.STARTED, shim.encode(vars(gone)))
    observed = Observer(store=store, cgroups=FakeCgroups()).observe(RECORD)
    assert observed.state == cri.ContainerState.EXITED
    assert observed.exited is not None
    assert (observed.exited.exit_code, observed.exited.reason) == (LOST_EXIT_CODE, "Error")
    assert "exit status is unknown" in observed.exited.message


def test_store_survives_a_restart(tmp_path: Path) -> None:
    store = Store(tmp_path)
    record = replace(RECORD, uid=1000, gid=1000, procs_files=("/a/cgroup.procs",))
    store.save_container(record, {"argv": ["x"]})
    assert Store(tmp_path).container(record.id) == record
    store.delete_container(record.id)
    assert Store(tmp_path).container(record.id) is None
