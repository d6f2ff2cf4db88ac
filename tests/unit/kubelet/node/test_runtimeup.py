from __future__ import annotations

from pocketkube.client.clock import FakeClock
from pocketkube.kubelet.node.runtimeup import RuntimeReadiness, describe
from pocketkube.runtime import cri


def status(runtime: bool = True, network: bool = True, *notes: str) -> cri.RuntimeStatus:
    return cri.RuntimeStatus(
        conditions=(
            cri.RuntimeCondition("RuntimeReady", runtime, "" if runtime else "Broken", "boom"),
            cri.RuntimeCondition(
                "NetworkReady",
                network,
                "" if network else "NetworkPluginNotReady",
                "" if network else "cni plugin not initialized",
            ),
        ),
        notes=notes,
    )


def test_before_the_first_poll() -> None:
    readiness = RuntimeReadiness(clock=FakeClock().now)
    assert readiness.errors() == [
        "container runtime status check may not have completed yet",
        "network state unknown",
    ]


def test_ready_runtime_has_no_errors_and_passes_notes() -> None:
    readiness = RuntimeReadiness(clock=FakeClock().now)
    readiness.record(status(True, True, "no root"))
    assert readiness.errors() == []
    assert readiness.notes == ("no root",)


def test_not_ready_words_as_upstream() -> None:
    readiness = RuntimeReadiness(clock=FakeClock().now)
    readiness.record(status(False, False))
    assert readiness.errors() == [
        "container runtime not ready: RuntimeReady=false reason:Broken message:boom",
        "container runtime network not ready: NetworkReady=false "
        "reason:NetworkPluginNotReady message:cni plugin not initialized",
    ]


def test_missing_conditions() -> None:
    readiness = RuntimeReadiness(clock=FakeClock().now)
    readiness.record(cri.RuntimeStatus(conditions=()))
    assert readiness.errors() == [
        "container runtime not ready: <nil>",
        "container runtime network not ready: <nil>",
    ]
    assert describe(None) == "<nil>"


def test_runtime_down_after_the_threshold_and_health_checks() -> None:
    clock = FakeClock()
    readiness = RuntimeReadiness(clock=clock.now, sync_threshold=30.0)
    readiness.record(status())
    problem: list[str | None] = [None]
    readiness.add_health_check("PLEG", lambda: problem[0])
    clock.advance(29)
    assert readiness.errors() == []
    problem[0] = "pleg was last seen active 3m0s ago; threshold is 3m0s"
    clock.advance(1)
    assert readiness.runtime_errors() == [
        "container runtime is down",
        "PLEG is not healthy: pleg was last seen active 3m0s ago; threshold is 3m0s",
    ]
