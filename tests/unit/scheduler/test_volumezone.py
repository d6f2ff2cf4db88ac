"""VolumeZone: bound volumes' zone and region labels against the node's."""

from __future__ import annotations

from typing import Any

import pytest

from pocketkube.scheduler.framework.cyclestate import CycleState
from pocketkube.scheduler.framework.fake import FakeHandle, make_node, make_pod, node_info
from pocketkube.scheduler.framework.interface import ActionType, ClusterEvent
from pocketkube.scheduler.framework.status import Code
from pocketkube.scheduler.framework.types import PodInfo
from pocketkube.scheduler.plugins.volumezone import ERR_REASON_CONFLICT, VolumeZone, new

Obj = dict[str, Any]
ZONE = "topology.kubernetes.io/zone"
REGION = "topology.kubernetes.io/region"
BETA_ZONE = "failure-domain.beta.kubernetes.io/zone"
BETA_REGION = "failure-domain.beta.kubernetes.io/region"


def pv(name: str, **labels: str) -> Obj:
    return {"metadata": {"name": name, "labels": labels}, "spec": {}}


def pvc(name: str, volume: str = "", sc: str | None = None) -> Obj:
    spec: Obj = {}
    if volume:
        spec["volumeName"] = volume
    if sc is not None:
        spec["storageClassName"] = sc
    return {"metadata": {"name": name, "namespace": "default"}, "spec": spec}


def pod_with(*claims: str) -> Obj:
    volumes = [
        {"name": f"v{i}", "persistentVolumeClaim": {"claimName": c}} for i, c in enumerate(claims)
    ]
    return make_pod("p", spec={"volumes": [{"name": "tmp", "emptyDir": {}}, *volumes]})


CLASSES = [
    {"metadata": {"name": "late"}, "volumeBindingMode": "WaitForFirstConsumer"},
    {"metadata": {"name": "now"}, "volumeBindingMode": "Immediate"},
]


def plugin_with(pvs: list[Obj], pvcs: list[Obj]) -> VolumeZone:
    objects = {"persistentvolumes": pvs, "persistentvolumeclaims": pvcs, "storageclasses": CLASSES}
    return new({}, FakeHandle(objects=objects))


@pytest.mark.parametrize(
    ("pod", "pvcs", "pvs", "code", "message"),
    [
        pytest.param(make_pod("p"), [], [], Code.SKIP, "", id="no-volumes"),
        pytest.param(
            pod_with("data"),
            [pvc("data", "pv")],
            [pv("pv")],
            Code.SKIP,
            "",
            id="volume-without-topology",
        ),
        pytest.param(
            pod_with(""),
            [],
            [],
            Code.UNSCHEDULABLE_AND_UNRESOLVABLE,
            "PersistentVolumeClaim had no name",
            id="claim-without-name",
        ),
        pytest.param(
            pod_with("data"),
            [],
            [],
            Code.UNSCHEDULABLE_AND_UNRESOLVABLE,
            'persistentvolumeclaim "data" not found',
            id="claim-missing",
        ),
        pytest.param(
            pod_with("data"),
            [pvc("data", "pv")],
            [],
            Code.UNSCHEDULABLE_AND_UNRESOLVABLE,
            'persistentvolume "pv" not found',
            id="volume-missing",
        ),
        pytest.param(
            pod_with("data"),
            [pvc("data")],
            [],
            Code.UNSCHEDULABLE_AND_UNRESOLVABLE,
            "PersistentVolumeClaim had no pv name and storageClass name",
            id="unbound-without-class",
        ),
        pytest.param(
            pod_with("data"),
            [pvc("data", sc="gone")],
            [],
            Code.UNSCHEDULABLE_AND_UNRESOLVABLE,
            'storageclass.storage.k8s.io "gone" not found',
            id="class-missing",
        ),
        pytest.param(
            pod_with("data"),
            [pvc("data", sc="now")],
            [],
            Code.UNSCHEDULABLE_AND_UNRESOLVABLE,
            "PersistentVolume had no name",
            id="unbound-immediate",
        ),
        pytest.param(
            pod_with("data"),
            [pvc("data", sc="late")],
            [],
            Code.SKIP,
            "",
            id="unbound-wait-for-first-consumer",
        ),
        pytest.param(
            pod_with("data"),
            [pvc("data", "pv")],
            [pv("pv", **{ZONE: "a__"})],
            Code.SKIP,
            "",
            id="malformed-zone-set-ignored",
        ),
        pytest.param(
            pod_with("data"),
            [pvc("data", "pv")],
            [pv("pv", **{ZONE: "a"})],
            None,
            "",
            id="zonal-volume",
        ),
    ],
)
def test_pre_filter(
    pod: Obj, pvcs: list[Obj], pvs: list[Obj], code: Code | None, message: str
) -> None:
    _, status = plugin_with(pvs, pvcs).pre_filter(CycleState(), PodInfo(pod), [])
    assert (status.code if status else None) == code
    assert (status.message() if status else "") == message


@pytest.mark.parametrize(
    ("volume_labels", "node_labels", "fits"),
    [
        pytest.param({ZONE: "a"}, {ZONE: "a"}, True, id="same-zone"),
        pytest.param({ZONE: "a"}, {ZONE: "b"}, False, id="other-zone"),
        pytest.param({ZONE: "a"}, {}, True, id="node-without-topology"),
        pytest.param({ZONE: "a"}, {REGION: "r"}, False, id="node-without-the-zone-label"),
        pytest.param({ZONE: "a__b"}, {ZONE: "b"}, True, id="multi-zone-volume"),
        pytest.param({ZONE: " a __ c"}, {ZONE: "c"}, True, id="multi-zone-trimmed"),
        pytest.param({BETA_ZONE: "a"}, {ZONE: "a"}, True, id="beta-volume-ga-node"),
        pytest.param({BETA_ZONE: "a"}, {BETA_ZONE: "b", ZONE: "a"}, False, id="beta-label-first"),
        pytest.param({ZONE: "a"}, {BETA_ZONE: "a"}, False, id="ga-volume-beta-node"),
        pytest.param(
            {ZONE: "a", REGION: "r1"}, {ZONE: "a", REGION: "r2"}, False, id="region-mismatch"
        ),
        pytest.param({BETA_REGION: "r1"}, {REGION: "r1", ZONE: "x"}, True, id="beta-region"),
    ],
)
def test_filter(volume_labels: dict[str, str], node_labels: dict[str, str], fits: bool) -> None:
    plugin = plugin_with([pv("pv", **volume_labels)], [pvc("data", "pv")])
    state, pod = CycleState(), PodInfo(pod_with("data"))
    _, status = plugin.pre_filter(state, pod, [])
    assert status is None
    node = make_node("n")
    node["metadata"]["labels"] = dict(node_labels)
    result = plugin.filter(state, pod, node_info(node))
    if fits:
        assert result is None
    else:
        assert result is not None
        assert result.code == Code.UNSCHEDULABLE_AND_UNRESOLVABLE
        assert result.message() == ERR_REASON_CONFLICT


def test_every_volume_must_fit() -> None:
    plugin = plugin_with(
        [pv("pv-a", **{ZONE: "a"}), pv("pv-b", **{ZONE: "b"})],
        [pvc("one", "pv-a"), pvc("two", "pv-b")],
    )
    state, pod = CycleState(), PodInfo(pod_with("one", "two"))
    plugin.pre_filter(state, pod, [])
    for zone in ("a", "b"):
        result = plugin.filter(state, pod, node_info(make_node("n", labels={ZONE: zone})))
        assert result is not None
        assert result.message() == ERR_REASON_CONFLICT


def test_filter_without_pre_filter_state_computes_it() -> None:
    plugin = plugin_with([pv("pv", **{ZONE: "a"})], [pvc("data", "pv")])
    pod = PodInfo(pod_with("data"))
    assert plugin.filter(CycleState(), pod, node_info(make_node("n", labels={ZONE: "a"}))) is None
    result = plugin.filter(CycleState(), pod, node_info(make_node("n", labels={ZONE: "b"})))
    assert result is not None
    assert result.message() == ERR_REASON_CONFLICT


def test_events_to_register() -> None:
    events = plugin_with([], []).events_to_register()
    assert any(e.covers(ClusterEvent("StorageClass", ActionType.ADD)) for e in events)
    assert not any(e.covers(ClusterEvent("StorageClass", ActionType.UPDATE)) for e in events)
    for resource in ("Node", "PersistentVolumeClaim", "PersistentVolume"):
        assert any(e.covers(ClusterEvent(resource, ActionType.UPDATE)) for e in events)
