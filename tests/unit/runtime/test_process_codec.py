"""The state files' codec: CRI messages survive a round trip through JSON."""

from __future__ import annotations

import json

import pytest

from pocketkube.runtime import cri
from pocketkube.runtime.process.codec import from_json, to_json
from pocketkube.runtime.process.state import Exited

CONTAINER = cri.ContainerConfig(
    metadata=cri.ContainerMetadata(name="app", attempt=2),
    image=cri.ImageSpec("busybox"),
    command=("sh", "-c"),
    args=("echo hi",),
    envs=(cri.KeyValue("A", "1"), cri.KeyValue("B", "")),
    mounts=(cri.Mount("/etc/config", "/var/lib/x", readonly=True, sub_path="s"),),
    labels={"io.kubernetes.container.name": "app"},
    resources=cri.LinuxContainerResources(cpu_quota=50000, memory_limit_in_bytes=1 << 20),
    run_as_user=1000,
)
SANDBOX = cri.PodSandboxConfig(
    metadata=cri.PodSandboxMetadata(name="p", uid="u", namespace="ns", attempt=1),
    dns_config=cri.DNSConfig(servers=("10.43.0.10",), searches=("ns.svc.cluster.local",)),
    port_mappings=(cri.PortMapping(container_port=80, host_port=8080),),
    host_network=True,
)


@pytest.mark.parametrize("message", [CONTAINER, SANDBOX, Exited(exit_code=1, finished_at=5)])
def test_round_trip(message: object) -> None:
    data = json.loads(json.dumps(to_json(message)))
    assert from_json(type(message), data) == message


def test_unknown_keys_are_ignored_and_missing_ones_defaulted() -> None:
    data = {"exit_code": 3, "finished_at": 1, "from_a_newer_version": True}
    assert from_json(Exited, data) == Exited(exit_code=3, finished_at=1)


def test_enums_and_optional_messages() -> None:
    status = cri.RuntimeCondition(type="NetworkReady", status=False, reason="r")
    assert from_json(cri.RuntimeCondition, to_json(status)) == status
    assert to_json(cri.ContainerState.RUNNING) == "CONTAINER_RUNNING"
    assert from_json(cri.ContainerConfig, to_json(CONTAINER)).resources == CONTAINER.resources
    plain = cri.ContainerConfig(metadata=CONTAINER.metadata, image=CONTAINER.image)
    assert from_json(cri.ContainerConfig, to_json(plain)).resources is None
