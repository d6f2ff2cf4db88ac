from __future__ import annotations

from typing import Any

import pytest

from pocketkube.kubelet.node import setters
from pocketkube.kubelet.node.machineinfo import MachineInfo
from pocketkube.runtime import cri

from .conftest import GI, MACHINE

MI = 1024 * 1024
RESERVED = {"memory": 100 * MI, "ephemeral-storage": 10 * GI}


def test_node_address() -> None:
    node: dict[str, Any] = {"status": {"addresses": [{"type": "ExternalIP", "address": "1.2.3.4"}]}}
    setters.node_address(node, node_ip="10.0.0.5", hostname="host-a")
    assert node["status"]["addresses"] == [
        {"type": "InternalIP", "address": "10.0.0.5"},
        {"type": "Hostname", "address": "host-a"},
    ]


def test_machine_info_capacity_allocatable_and_ids() -> None:
    node: dict[str, Any] = {}
    reboots: list[str] = []
    setters.machine_info(
        node, info=MACHINE, max_pods=110, reserved=RESERVED, rebooted=reboots.append
    )
    assert node["status"]["capacity"] == {
        "cpu": "4",
        "memory": "8Gi",
        "ephemeral-storage": "100Gi",
        "pods": "110",
        "hugepages-2Mi": "0",
    }
    assert node["status"]["allocatable"] == {
        "cpu": "4",
        "memory": "8092Mi",
        "ephemeral-storage": "90Gi",
        "pods": "110",
        "hugepages-2Mi": "0",
    }
    assert node["status"]["nodeInfo"] == {
        "machineID": "m-1",
        "systemUUID": "uuid-1",
        "bootID": "boot-1",
    }
    assert reboots == []


def test_machine_info_reboot_and_foreign_resources() -> None:
    node: dict[str, Any] = {
        "status": {
            "nodeInfo": {"bootID": "boot-0"},
            "capacity": {"example.com/gpu": "2", "hugepages-1Gi": "1Gi"},
            "allocatable": {
                "example.com/gpu": "1",
                "example.com/gone": "3",
                "hugepages-1Gi": "1Gi",
            },
        }
    }
    reboots: list[str] = []
    setters.machine_info(node, info=MACHINE, max_pods=50, reserved={}, rebooted=reboots.append)
    assert reboots == ["boot-1"]
    status = node["status"]
    assert status["capacity"]["example.com/gpu"] == "2"  # a device plugin's, kept
    assert "hugepages-1Gi" not in status["capacity"]  # no longer offered by the kernel
    assert "hugepages-1Gi" not in status["allocatable"]
    assert "example.com/gone" not in status["allocatable"]
    assert status["allocatable"]["example.com/gpu"] == "2"
    assert status["capacity"]["pods"] == "50"


def test_machine_info_unreadable() -> None:
    node: dict[str, Any] = {}
    setters.machine_info(node, info=None, max_pods=110, reserved=RESERVED, rebooted=print)
    assert node["status"]["capacity"] == {"cpu": "0", "memory": "0", "pods": "110"}
    assert node["status"]["allocatable"]["memory"] == "0"


@pytest.mark.parametrize(
    ("name", "extended"),
    [
        ("cpu", False),
        ("kubernetes.io/foo", False),
        ("hugepages-2Mi", False),
        ("requests.example.com/x", False),
        ("example.com/gpu", True),
        ("nvidia.com/gpu", True),
        ("foo.kubernetes.io/bar", False),
    ],
)
def test_is_extended_resource(name: str, extended: bool) -> None:
    assert setters.is_extended_resource(name) is extended


def test_version_info() -> None:
    node: dict[str, Any] = {}
    version = cri.VersionInfo(version="v1", runtime_name="process", runtime_version="0.2")
    setters.version_info(
        node,
        info=MACHINE,
        runtime=version,
        runtime_name="x",
        kubelet_version="v1.33.0",
        kube_proxy_version="",
    )
    assert node["status"]["nodeInfo"] == {
        "kernelVersion": "6.1.0",
        "osImage": "Debian GNU/Linux 12 (bookworm)",
        "containerRuntimeVersion": "process://0.2",
        "kubeletVersion": "v1.33.0",
        "kubeProxyVersion": "",
    }
    setters.version_info(
        node,
        info=None,
        runtime=None,
        runtime_name="process",
        kubelet_version="v",
        kube_proxy_version="",
    )
    assert node["status"]["nodeInfo"]["containerRuntimeVersion"] == "process://Unknown"
    assert node["status"]["nodeInfo"]["kernelVersion"] == "6.1.0"  # left as it was


def test_daemon_endpoints_and_go_runtime() -> None:
    node: dict[str, Any] = {}
    setters.daemon_endpoints(node, kubelet_port=10250)
    setters.go_runtime(node, operating_system="linux", architecture="arm64")
    assert node["status"]["daemonEndpoints"] == {"kubeletEndpoint": {"Port": 10250}}
    assert node["status"]["nodeInfo"] == {"operatingSystem": "linux", "architecture": "arm64"}


def image(n: int, size: int, tags: int = 1) -> cri.Image:
    return cri.Image(
        id=f"sha256:{n}",
        repo_tags=tuple(f"img{n}:t{i}" for i in range(tags)),
        repo_digests=(f"img{n}@sha256:{n}",),
        size=size,
    )


def test_images_sorted_by_size_capped() -> None:
    node: dict[str, Any] = {}
    listed = [image(1, 10), image(2, 30, tags=6), image(3, 20)]
    setters.images(node, listed=listed, max_images=2)
    assert node["status"]["images"] == [
        {
            "names": ["img2@sha256:2", "img2:t0", "img2:t1", "img2:t2", "img2:t3"],
            "sizeBytes": 30,
        },
        {"names": ["img3@sha256:3", "img3:t0"], "sizeBytes": 20},
    ]
    setters.images(node, listed=listed, max_images=-1)
    assert len(node["status"]["images"]) == 3


@pytest.mark.parametrize("listed", [None, []])
def test_no_images(listed: list[cri.Image] | None) -> None:
    node: dict[str, Any] = {"status": {"images": [{"names": ["x"], "sizeBytes": 1}]}}
    setters.images(node, listed=listed)
    assert "images" not in node["status"]


def test_machine_info_hugepages_with_pages() -> None:
    info = MachineInfo(
        num_cores=1, memory_capacity=1024 * MI, ephemeral_storage=GI, hugepages={2 * MI: 10}
    )
    node: dict[str, Any] = {}
    setters.machine_info(node, info=info, max_pods=110, reserved={}, rebooted=print)
    assert node["status"]["capacity"]["hugepages-2Mi"] == "20Mi"
    assert node["status"]["allocatable"]["memory"] == "1004Mi"
