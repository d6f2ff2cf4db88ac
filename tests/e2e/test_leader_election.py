"""Two controller managers (and two schedulers) against one server, with leader election on
short timings: one holds the Lease (kubectl shows it); SIGKILL it and the other holds it within
the lease duration and some slack; a leader whose Lease is taken exits 1, "leaderelection
lost"; a SIGTERM'd leader releases the Lease and the standby takes it at once."""

from __future__ import annotations

import re
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.e2e.conftest import Cluster, free_port, start_server, stop_server

pytestmark = pytest.mark.skipif(shutil.which("kubectl") is None, reason="kubectl not installed")

LEASE_DURATION, RETRY = 3.0, 0.5
TAKEOVER = LEASE_DURATION + 2.2 * RETRY + 3.0  # + process and polling slack


class Component:
    """A `pocketkube` component process whose output goes to a file."""

    def __init__(self, tmp: Path, name: str, args: list[str]) -> None:
        self.log = tmp / f"{name}.log"
        self._out = self.log.open("w")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "pocketkube.cli", *args],
            stdout=self._out,
            stderr=subprocess.STDOUT,
            text=True,
        )

    @property
    def identity(self) -> str:
        match = re.search(r"leader election as (\S+?)\)", self.log.read_text())
        return match.group(1) if match else ""

    def stop(self, sig: int = signal.SIGTERM) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
        code = self.proc.wait(20)
        self._out.close()
        return code


@pytest.fixture
def cluster(tmp_path: Path) -> Iterator[Cluster]:
    port = free_port()
    data_dir = tmp_path / "cluster"
    server = start_server(data_dir, port, "--disable-controller-manager", "--disable-scheduler")
    try:
        yield Cluster(server, data_dir, port, tmp_path / "kubectl-cache")
    finally:
        stop_server(server)


def wait_for(check: Callable[[], Any], what: str, timeout: float = 30) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if result := check():
            return result
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}")


def holder(cluster: Cluster, name: str) -> str:
    result = cluster.kubectl(
        "get",
        "lease",
        "-n",
        "kube-system",
        name,
        "-o",
        "jsonpath={.spec.holderIdentity}",
        check=False,
    )
    return result.stdout.strip() if result.returncode == 0 else ""


def controller_manager(cluster: Cluster, tmp: Path, name: str) -> Component:
    return Component(
        tmp,
        name,
        [
            "controller-manager",
            "--kubeconfig",
            str(cluster.kubeconfig),
            "--leader-elect-lease-duration",
            "3s",
            "--leader-elect-renew-deadline",
            "2s",
            "--leader-elect-retry-period",
            "0.5s",
        ],
    )


def elected_pair(
    cluster: Cluster, lease: str, pair: tuple[Component, Component]
) -> tuple[Component, Component]:
    """(leader, standby) once one of ``pair`` holds ``lease``."""
    wait_for(lambda: all(c.identity for c in pair), "both to start")
    current = wait_for(lambda: holder(cluster, lease), f"a holder of {lease}")
    by_identity = {c.identity: c for c in pair}
    assert current in by_identity, f"{current!r} is neither of {list(by_identity)}"
    leader = by_identity[current]
    standby = pair[1] if leader is pair[0] else pair[0]
    return leader, standby


def test_the_standby_controller_manager_takes_over_from_a_killed_leader(
    cluster: Cluster, tmp_path: Path
) -> None:
    pair = (
        controller_manager(cluster, tmp_path, "kcm-1"),
        controller_manager(cluster, tmp_path, "kcm-2"),
    )
    try:
        leader, standby = elected_pair(cluster, "kube-controller-manager", pair)
        time.sleep(2 * LEASE_DURATION)  # the standby never takes a lease that is renewed
        assert holder(cluster, "kube-controller-manager") == leader.identity
        assert "became leader" in leader.log.read_text()
        assert "became leader" not in standby.log.read_text()

        leader.stop(signal.SIGKILL)
        killed = time.monotonic()
        wait_for(
            lambda: holder(cluster, "kube-controller-manager") == standby.identity,
            "the standby to hold the lease",
            timeout=TAKEOVER + 5,
        )
        assert time.monotonic() - killed <= TAKEOVER
        events = cluster.kubectl(
            "get",
            "events",
            "-n",
            "kube-system",
            "--field-selector",
            "involvedObject.name=kube-controller-manager,reason=LeaderElection",
            "-o",
            "jsonpath={.items[*].message}",
        ).stdout
        assert f"{standby.identity} became leader" in events

        # the new leader's controllers work: the disruption controller fills in a budget
        cluster.kubectl("create", "pdb", "web", "--selector=app=web", "--min-available=0")

        def observed() -> bool:
            result = cluster.kubectl(
                "get", "pdb", "web", "-o", "jsonpath={.status.observedGeneration}"
            )
            return result.stdout.strip() == "1"

        wait_for(observed, "the budget's status")
        time.sleep(LEASE_DURATION)
        assert holder(cluster, "kube-controller-manager") == standby.identity
        assert standby.proc.poll() is None
    finally:
        for component in pair:
            component.stop(signal.SIGKILL)


def test_a_leader_whose_lease_is_taken_exits_and_a_stopped_one_releases(
    cluster: Cluster, tmp_path: Path
) -> None:
    one = controller_manager(cluster, tmp_path, "kcm-1")
    try:
        wait_for(lambda: one.identity, "it to start")
        wait_for(lambda: holder(cluster, "kube-controller-manager") == one.identity, "it to lead")
        cluster.kubectl(
            "patch",
            "lease",
            "-n",
            "kube-system",
            "kube-controller-manager",
            "--type=merge",
            "-p",
            '{"spec": {"holderIdentity": "intruder", "leaseDurationSeconds": 60}}',
        )
        code = wait_for(lambda: one.proc.poll(), "the leader to exit", timeout=10)
        assert code == 1
        assert "leaderelection lost" in one.log.read_text()
    finally:
        one.stop(signal.SIGKILL)

    # a graceful stop releases the Lease: the standby need not wait out the lease
    cluster.kubectl("delete", "lease", "-n", "kube-system", "kube-controller-manager")
    pair = (
        controller_manager(cluster, tmp_path, "kcm-2"),
        controller_manager(cluster, tmp_path, "kcm-3"),
    )
    try:
        leader, standby = elected_pair(cluster, "kube-controller-manager", pair)
        assert leader.stop(signal.SIGTERM) == 0
        stopped = time.monotonic()
        wait_for(
            lambda: holder(cluster, "kube-controller-manager") == standby.identity,
            "the standby to hold the lease",
        )
        assert time.monotonic() - stopped < LEASE_DURATION
    finally:
        for component in pair:
            component.stop(signal.SIGKILL)


def test_the_standby_scheduler_takes_over(cluster: Cluster, tmp_path: Path) -> None:
    config = tmp_path / "scheduler.yaml"
    config.write_text(
        yaml.safe_dump(
            {
                "apiVersion": "kubescheduler.config.k8s.io/v1",
                "kind": "KubeSchedulerConfiguration",
                "clientConnection": {"kubeconfig": str(cluster.kubeconfig)},
                "leaderElection": {
                    "leaderElect": True,
                    "leaseDuration": "3s",
                    "renewDeadline": "2s",
                    "retryPeriod": "500ms",
                },
            }
        )
    )
    pair = (
        Component(tmp_path, "sched-1", ["scheduler", "--config", str(config)]),
        Component(tmp_path, "sched-2", ["scheduler", "--config", str(config)]),
    )
    try:
        leader, standby = elected_pair(cluster, "kube-scheduler", pair)
        leader.stop(signal.SIGKILL)
        killed = time.monotonic()
        wait_for(
            lambda: holder(cluster, "kube-scheduler") == standby.identity,
            "the standby scheduler to hold the lease",
            timeout=TAKEOVER + 5,
        )
        assert time.monotonic() - killed <= TAKEOVER
        assert standby.proc.poll() is None
    finally:
        for component in pair:
            component.stop(signal.SIGKILL)
