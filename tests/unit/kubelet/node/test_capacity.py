from __future__ import annotations

import pytest

from pocketkube.kubelet.node.capacity import (
    allocatable,
    binary_si,
    capacity,
    format_quantity,
    format_resources,
    hugepage_resource,
)
from pocketkube.kubelet.node.machineinfo import MachineInfo

MI = 1024 * 1024


@pytest.mark.parametrize(
    ("amount", "text"),
    [
        (0, "0"),
        (1023, "1023"),
        (1024, "1Ki"),
        (16318708 * 1024, "16318708Ki"),
        (100 * MI, "100Mi"),
        (2 * MI, "2Mi"),
        (1024**3, "1Gi"),
        (1025, "1025"),
        (10 * 1024**3 + 1, str(10 * 1024**3 + 1)),
    ],
)
def test_binary_si(amount: int, text: str) -> None:
    assert binary_si(amount) == text


@pytest.mark.parametrize(
    ("name", "value", "text"),
    [("cpu", 4000, "4"), ("cpu", 1500, "1500m"), ("pods", 110, "110"), ("memory", MI, "1Mi")],
)
def test_format_quantity(name: str, value: int, text: str) -> None:
    assert format_quantity(name, value) == text


def test_capacity_and_allocatable() -> None:
    info = MachineInfo(
        num_cores=2,
        memory_capacity=4096 * MI,
        ephemeral_storage=1000 * MI,
        hugepages={2 * MI: 10},
    )
    cap = capacity(info, max_pods=110)
    assert hugepage_resource(2 * MI) == "hugepages-2Mi"
    assert cap == {
        "cpu": 2000,
        "memory": 4096 * MI,
        "ephemeral-storage": 1000 * MI,
        "pods": 110,
        "hugepages-2Mi": 20 * MI,
    }
    alloc = allocatable(cap, {"memory": 100 * MI, "ephemeral-storage": 100 * MI, "cpu": 9000})
    assert alloc["memory"] == (4096 - 100 - 20) * MI  # hugepages leave allocatable memory
    assert alloc["ephemeral-storage"] == 900 * MI
    assert alloc["cpu"] == 0  # never negative
    assert format_resources(alloc)["memory"] == "3976Mi"
