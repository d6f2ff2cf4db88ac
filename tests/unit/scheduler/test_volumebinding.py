"""VolumeBinding: claim checks, volume node affinity, matching unbound claims, binding writes."""

from __future__ import annotations

import copy
from collections.abc import Iterable
from typing import Any

import pytest

from pocketkube.scheduler.framework.cyclestate import CycleState
from pocketkube.scheduler.framework.fake import FakeHandle, make_node, make_pod, node_info
from pocketkube.scheduler.framework.interface import ActionType, ClusterEvent
from pocketkube.scheduler.framework.status import Code, Status
from pocketkube.scheduler.framework.types import PodInfo
from pocketkube.scheduler.plugins.volumebinding import (
    ERR_BIND_CONFLICT,
    ERR_NODE_CONFLICT,
    ERR_PV_NOT_EXIST,
    ERR_UNBOUND_IMMEDIATE,
    VolumeBinding,
    new,
)

Obj = dict[str, Any]
NS = "default"
HOSTNAME = "kubernetes.io/hostname"


def storage_class(
    name: str = "local",
    *,
    mode: str | None = "WaitForFirstConsumer",
    provisioner: str = "kubernetes.io/no-provisioner",
    allowed: list[Obj] | None = None,
) -> Obj:
    sc: Obj = {"metadata": {"name": name}, "provisioner": provisioner}
    if mode is not None:
        sc["volumeBindingMode"] = mode
    if allowed is not None:
        sc["allowedTopologies"] = allowed
    return sc


def hostname_affinity(*nodes: str) -> Obj:
    expr = {"key": HOSTNAME, "operator": "In", "values": list(nodes)}
    return {"required": {"nodeSelectorTerms": [{"matchExpressions": [expr]}]}}


def pv(
    name: str,
    size: str = "10Gi",
    *,
    sc: str = "local",
    nodes: Iterable[str] = (),
    affinity: Obj | None = None,
    claim: str = "",
    phase: str | None = "Available",
    modes: Iterable[str] = ("ReadWriteOnce",),
    **extra: Any,
) -> Obj:
    spec: Obj = {
        "capacity": {"storage": size},
        "storageClassName": sc,
        "accessModes": list(modes),
        **extra.pop("spec", {}),
    }
    nodes = list(nodes)
    if nodes:
        spec["nodeAffinity"] = hostname_affinity(*nodes)
    if affinity is not None:
        spec["nodeAffinity"] = affinity
    if claim:
        spec["claimRef"] = {"namespace": NS, "name": claim, "uid": f"uid-{claim}"}
    meta: Obj = {"name": name, "resourceVersion": "7", **extra.pop("meta", {})}
    obj: Obj = {"kind": "PersistentVolume", "metadata": meta, "spec": spec, "status": {}}
    if phase:
        obj["status"]["phase"] = phase
    return obj


def pvc(
    name: str,
    size: str = "5Gi",
    *,
    sc: str | None = "local",
    volume: str = "",
    bound: bool = False,
    annotations: Obj | None = None,
    **spec_extra: Any,
) -> Obj:
    spec: Obj = {
        "accessModes": ["ReadWriteOnce"],
        "resources": {"requests": {"storage": size}},
        **spec_extra,
    }
    if sc is not None:
        spec["storageClassName"] = sc
    if volume:
        spec["volumeName"] = volume
    notes = dict(annotations or {})
    if bound:
        notes["pv.kubernetes.io/bind-completed"] = "yes"
    meta = {"name": name, "namespace": NS, "uid": f"uid-{name}", "resourceVersion": "3"}
    return {
        "kind": "PersistentVolumeClaim",
        "metadata": {**meta, "annotations": notes},
        "spec": spec,
    }


def pod_with(*claims: str, ephemeral: Iterable[str] = (), name: str = "web") -> Obj:
    volumes: list[Obj] = [{"name": "scratch", "emptyDir": {}}]
    volumes += [{"name": c, "persistentVolumeClaim": {"claimName": c}} for c in claims]
    volumes += [{"name": v, "ephemeral": {"volumeClaimTemplate": {}}} for v in ephemeral]
    return make_pod(name, spec={"volumes": volumes})


NODES = [
    make_node("node-a", labels={"topology.kubernetes.io/zone": "a", "disk": "7"}),
    make_node("node-b", labels={"topology.kubernetes.io/zone": "b", "disk": "3"}),
]


def handle(
    *, pvs: Iterable[Obj] = (), pvcs: Iterable[Obj] = (), classes: Iterable[Obj] | None = None
) -> FakeHandle:
    return FakeHandle(
        nodes=[node_info(n) for n in NODES],
        objects={
            "persistentvolumes": list(pvs),
            "persistentvolumeclaims": list(pvcs),
            "storageclasses": [storage_class()] if classes is None else list(classes),
        },
        client=FakeClient(),
    )


def run(plugin: VolumeBinding, pod: Obj) -> tuple[CycleState, Status | None, dict[str, str]]:
    """PreFilter, then Filter on every node: node → 'fits' or the joined reasons."""
    state, info = CycleState(), PodInfo(pod)
    _, status = plugin.pre_filter(state, info, [])
    results: dict[str, str] = {}
    if status is None:
        for node in NODES:
            result = plugin.filter(state, info, node_info(node))
            results[node["metadata"]["name"]] = (
                "fits" if result is None else f"{result.code.name}: {result.message()}"
            )
    return state, status, results


# -- PreFilter -----------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("pod", "objects", "code", "message"),
    [
        pytest.param(make_pod("p"), {}, Code.SKIP, "", id="no-volumes"),
        pytest.param(pod_with(), {}, Code.SKIP, "", id="no-claims"),
        pytest.param(
            pod_with("data"),
            {},
            Code.UNSCHEDULABLE_AND_UNRESOLVABLE,
            'persistentvolumeclaim "data" not found',
            id="claim-missing",
        ),
        pytest.param(
            pod_with(ephemeral=["cache"]),
            {},
            Code.UNSCHEDULABLE_AND_UNRESOLVABLE,
            "waiting for ephemeral volume controller to create the persistentvolumeclaim "
            '"web-cache"',
            id="ephemeral-missing",
        ),
        pytest.param(
            pod_with(ephemeral=["cache"]),
            {"pvcs": [pvc("web-cache")]},
            Code.UNSCHEDULABLE_AND_UNRESOLVABLE,
            "PVC default/web-cache was not created for pod default/web (pod is not owner)",
            id="ephemeral-not-owned",
        ),
        pytest.param(
            pod_with("data"),
            {
                "pvcs": [
                    {**pvc("data"), "status": {"phase": "Lost"}} | {"spec": {"volumeName": "x"}}
                ]
            },
            Code.UNSCHEDULABLE_AND_UNRESOLVABLE,
            'persistentvolumeclaim "data" bound to non-existent persistentvolume "x"',
            id="claim-lost",
        ),
        pytest.param(
            pod_with("data"),
            {
                "pvcs": [
                    pvc("data")
                    | {
                        "metadata": {
                            "name": "data",
                            "namespace": NS,
                            "deletionTimestamp": "2024-01-01T00:00:00Z",
                        }
                    }
                ]
            },
            Code.UNSCHEDULABLE_AND_UNRESOLVABLE,
            'persistentvolumeclaim "data" is being deleted',
            id="claim-deleting",
        ),
        pytest.param(
            pod_with("data"),
            {
                "pvcs": [pvc("data", sc="fast")],
                "classes": [storage_class("fast", mode="Immediate")],
            },
            Code.UNSCHEDULABLE_AND_UNRESOLVABLE,
            ERR_UNBOUND_IMMEDIATE,
            id="unbound-immediate",
        ),
        pytest.param(
            pod_with("data"),
            {"pvcs": [pvc("data", sc=None)]},
            Code.UNSCHEDULABLE_AND_UNRESOLVABLE,
            ERR_UNBOUND_IMMEDIATE,
            id="unbound-no-class",
        ),
        pytest.param(
            pod_with("data"),
            {"pvcs": [pvc("data", sc="gone")]},
            Code.UNSCHEDULABLE_AND_UNRESOLVABLE,
            ERR_UNBOUND_IMMEDIATE,
            id="unbound-class-missing",
        ),
        pytest.param(
            pod_with("data"),
            {"pvcs": [pvc("data")], "classes": [storage_class(mode=None)]},
            Code.UNSCHEDULABLE_AND_UNRESOLVABLE,
            ERR_UNBOUND_IMMEDIATE,
            id="class-without-mode-is-immediate",
        ),
        pytest.param(
            pod_with("data"),
            {"pvcs": [pvc("data", volume="pv-1")]},
            Code.UNSCHEDULABLE_AND_UNRESOLVABLE,
            ERR_UNBOUND_IMMEDIATE,
            id="prebound-claim-waits-for-pv-controller",
        ),
        pytest.param(
            pod_with("data"),
            {
                "pvcs": [
                    pvc("data", selector={"matchExpressions": [{"key": "k", "operator": "Bad"}]})
                ]
            },
            Code.ERROR,
            "error creating internal label selector for claim: default/data: "
            '"Bad" is not a valid label selector operator',
            id="bad-claim-selector",
        ),
        pytest.param(
            pod_with("data"),
            {"pvcs": [pvc("data", volume="pv-1", bound=True)]},
            None,
            "",
            id="bound",
        ),
        pytest.param(pod_with("data"), {"pvcs": [pvc("data")]}, None, "", id="wait-for-consumer"),
    ],
)
def test_pre_filter(pod: Obj, objects: dict[str, Any], code: Code | None, message: str) -> None:
    plugin = VolumeBinding({}, handle(**objects))
    _, status = plugin.pre_filter(CycleState(), PodInfo(pod), [])
    assert (status.code if status else None) == code
    assert (status.message() if status else "") == message


def test_pre_filter_reports_a_missing_claim_before_an_unbound_one() -> None:
    plugin = VolumeBinding({}, handle(pvcs=[pvc("a", sc=None)]))
    _, status = plugin.pre_filter(CycleState(), PodInfo(pod_with("a", "b")), [])
    assert status is not None
    assert status.message() == 'persistentvolumeclaim "b" not found'


# -- Filter ---------------------------------------------------------------------------------------
CONFLICT = f"UNSCHEDULABLE_AND_UNRESOLVABLE: {ERR_NODE_CONFLICT}"
NO_VOLUME = f"UNSCHEDULABLE_AND_UNRESOLVABLE: {ERR_BIND_CONFLICT}"
BOUND = pvc("data", volume="pv-1", bound=True)


def expr(key: str, operator: str, *values: str) -> Obj:
    return {"key": key, "operator": operator, "values": list(values)}


def terms(*term_list: Obj) -> Obj:
    return {"required": {"nodeSelectorTerms": list(term_list)}}


@pytest.mark.parametrize(
    ("objects", "expected"),
    [
        pytest.param(
            {"pvcs": [BOUND], "pvs": [pv("pv-1", nodes=["node-a"], claim="data")]},
            {"node-a": "fits", "node-b": CONFLICT},
            id="bound-local-volume",
        ),
        pytest.param(
            {"pvcs": [BOUND], "pvs": [pv("pv-1", claim="data")]},
            {"node-a": "fits", "node-b": "fits"},
            id="bound-volume-without-affinity",
        ),
        pytest.param(
            {"pvcs": [BOUND]},
            {
                n: f"UNSCHEDULABLE_AND_UNRESOLVABLE: {ERR_PV_NOT_EXIST}"
                for n in ("node-a", "node-b")
            },
            id="bound-volume-missing",
        ),
        pytest.param(
            {
                "pvcs": [BOUND],
                "pvs": [
                    pv("pv-1", affinity=terms({"matchExpressions": [expr("disk", "Gt", "5")]}))
                ],
            },
            {"node-a": "fits", "node-b": CONFLICT},
            id="affinity-gt",
        ),
        pytest.param(
            {
                "pvcs": [BOUND],
                "pvs": [
                    pv(
                        "pv-1",
                        affinity=terms(
                            {
                                "matchExpressions": [
                                    expr("topology.kubernetes.io/zone", "NotIn", "a")
                                ]
                            },
                            {"matchFields": [expr("metadata.name", "In", "node-a")]},
                        ),
                    )
                ],
            },
            {"node-a": "fits", "node-b": "fits"},
            id="affinity-terms-ored-and-match-fields",
        ),
        pytest.param(
            {
                "pvcs": [BOUND],
                "pvs": [
                    pv(
                        "pv-1",
                        affinity=terms({"matchExpressions": [expr("ssd", "DoesNotExist")]}, {}),
                    )
                ],
            },
            {"node-a": "fits", "node-b": "fits"},
            id="affinity-does-not-exist",
        ),
        pytest.param(
            {"pvcs": [BOUND], "pvs": [pv("pv-1", affinity=terms({}))]},
            {"node-a": CONFLICT, "node-b": CONFLICT},
            id="affinity-empty-term-matches-nothing",
        ),
        pytest.param(
            {"pvcs": [pvc("data")], "pvs": [pv("pv-1", nodes=["node-a"])]},
            {"node-a": "fits", "node-b": NO_VOLUME},
            id="unbound-local-volume",
        ),
        pytest.param(
            {"pvcs": [pvc("data")], "pvs": []},
            {"node-a": NO_VOLUME, "node-b": NO_VOLUME},
            id="no-volume-no-provisioner",
        ),
        pytest.param(
            {"pvcs": [pvc("data")], "classes": [storage_class(provisioner="csi.example.com")]},
            {"node-a": "fits", "node-b": "fits"},
            id="dynamic-provisioning",
        ),
        pytest.param(
            {
                "pvcs": [pvc("data")],
                "classes": [
                    storage_class(
                        provisioner="csi.example.com",
                        allowed=[
                            {
                                "matchLabelExpressions": [
                                    {"key": "topology.kubernetes.io/zone", "values": ["b", "c"]}
                                ]
                            }
                        ],
                    )
                ],
            },
            {"node-a": NO_VOLUME, "node-b": "fits"},
            id="dynamic-provisioning-allowed-topologies",
        ),
        pytest.param(
            {
                "pvcs": [pvc("data", annotations={"volume.kubernetes.io/selected-node": "node-b"})],
                "classes": [storage_class(provisioner="csi.example.com")],
            },
            {"node-a": NO_VOLUME, "node-b": "fits"},
            id="selected-node-already-set",
        ),
        pytest.param(
            {
                "pvcs": [BOUND, pvc("logs")],
                "pvs": [pv("pv-1", nodes=["node-b"], claim="data"), pv("pv-2", nodes=["node-b"])],
            },
            {"node-a": f"{CONFLICT}, {ERR_BIND_CONFLICT}", "node-b": "fits"},
            id="bound-and-unbound-reasons",
        ),
    ],
)
def test_filter(objects: dict[str, Any], expected: dict[str, str]) -> None:
    plugin = VolumeBinding({}, handle(**objects))
    claims = [c["metadata"]["name"] for c in objects["pvcs"]]
    _, status, results = run(plugin, pod_with(*claims))
    assert status is None
    assert results == expected


def chosen(plugin: VolumeBinding, pod: Obj, node: str = "node-a") -> dict[str, str]:
    """Which volume Filter picked per claim on ``node`` (as Reserve assumes it)."""
    state, status, results = run(plugin, pod)
    assert status is None
    assert results[node] == "fits", results
    assert plugin.reserve(state, PodInfo(pod), node) is None
    return {claim: volume for volume, claim in plugin.assumed_volumes().items()}


@pytest.mark.parametrize(
    ("volumes", "expected"),
    [
        pytest.param(
            [pv("big", "20Gi"), pv("small", "6Gi"), pv("tiny", "4Gi")],
            "small",
            id="smallest-that-fits",
        ),
        pytest.param(
            [pv("big", "20Gi"), pv("prebound", "50Gi", claim="data")],
            "prebound",
            id="prebound-to-this-claim-wins",
        ),
        pytest.param(
            [pv("other", "6Gi", claim="someone"), pv("big", "20Gi")], "big", id="claimed-by-another"
        ),
        pytest.param([pv("slow", "6Gi", sc="slow"), pv("big", "20Gi")], "big", id="other-class"),
        pytest.param(
            [pv("rox", "6Gi", modes=["ReadOnlyMany"]), pv("big", "20Gi")], "big", id="access-modes"
        ),
        pytest.param(
            [pv("block", "6Gi", spec={"volumeMode": "Block"}), pv("big", "20Gi")],
            "big",
            id="volume-mode",
        ),
        pytest.param(
            [pv("released", "6Gi", phase="Released"), pv("big", "20Gi")], "big", id="released"
        ),
        pytest.param(
            [pv("new", "6Gi", phase=None), pv("big", "20Gi")],
            "new",
            id="no-phase-yet-counts-as-available",
        ),
        pytest.param(
            [
                pv("gone", "6Gi", meta={"deletionTimestamp": "2024-01-01T00:00:00Z"}),
                pv("big", "20Gi"),
            ],
            "big",
            id="being-deleted",
        ),
        pytest.param(
            [pv("far", "6Gi", nodes=["node-b"]), pv("big", "20Gi")], "big", id="node-affinity"
        ),
    ],
)
def test_unbound_claim_picks_smallest_fitting_volume(volumes: list[Obj], expected: str) -> None:
    plugin = VolumeBinding({}, handle(pvs=volumes, pvcs=[pvc("data")]))
    assert chosen(plugin, pod_with("data")) == {"default/data": expected}


def test_claim_selector_filters_volumes() -> None:
    claim = pvc("data", selector={"matchLabels": {"tier": "gold"}})
    volumes = [pv("plain", "6Gi"), pv("gold", "20Gi", meta={"labels": {"tier": "gold"}})]
    plugin = VolumeBinding({}, handle(pvs=volumes, pvcs=[claim]))
    assert chosen(plugin, pod_with("data")) == {"default/data": "gold"}


def test_two_claims_never_share_a_volume_and_smaller_claims_choose_first() -> None:
    claims = [pvc("big", "5Gi"), pvc("small", "1Gi")]
    plugin = VolumeBinding({}, handle(pvs=[pv("pv-6", "6Gi"), pv("pv-5", "5Gi")], pvcs=claims))
    assert chosen(plugin, pod_with("big", "small")) == {
        "default/small": "pv-5",
        "default/big": "pv-6",
    }
    single = VolumeBinding({}, handle(pvs=[pv("pv-6", "6Gi")], pvcs=claims))
    _, _, results = run(single, pod_with("big", "small"))
    assert results == {"node-a": NO_VOLUME, "node-b": NO_VOLUME}


def test_reserved_volume_is_not_offered_to_the_next_pod_until_unreserved() -> None:
    objects = handle(pvs=[pv("pv-1", "10Gi")], pvcs=[pvc("first"), pvc("second")])
    plugin = VolumeBinding({}, objects)
    first = pod_with("first", name="one")
    state, _, _ = run(plugin, first)
    assert plugin.reserve(state, PodInfo(first), "node-a") is None
    assert plugin.assumed_volumes() == {"pv-1": "default/first"}

    _, _, results = run(plugin, pod_with("second", name="two"))
    assert results == {"node-a": NO_VOLUME, "node-b": NO_VOLUME}

    plugin.unreserve(state, PodInfo(first), "node-a")
    assert plugin.assumed_volumes() == {}
    _, _, results = run(plugin, pod_with("second", name="two"))
    assert results == {"node-a": "fits", "node-b": "fits"}


def test_assumption_is_dropped_once_the_informer_shows_the_binding() -> None:
    objects = handle(pvs=[pv("pv-1")], pvcs=[pvc("data"), pvc("other")])
    plugin = VolumeBinding({}, objects)
    chosen(plugin, pod_with("data"))
    objects.lister("persistentvolumes").add(pv("pv-1", claim="data"))
    run(plugin, pod_with("other", name="two"))
    assert plugin.assumed_volumes() == {}


def test_reserve_of_a_pod_whose_volumes_are_all_bound_assumes_nothing() -> None:
    plugin = VolumeBinding({}, handle(pvs=[pv("pv-1", claim="data")], pvcs=[BOUND]))
    pod = pod_with("data")
    state, _, _ = run(plugin, pod)
    assert plugin.reserve(state, PodInfo(pod), "node-a") is None
    assert plugin.assumed_volumes() == {}


# -- PreBind --------------------------------------------------------------------------------------
class FakeClient:
    """Objects by path; GET copies, merge PATCH merges and bumps resourceVersion; calls logged."""

    def __init__(self) -> None:
        self.objects: dict[str, Obj] = {}
        self.calls: list[tuple[str, str, Any]] = []
        self.fail: dict[str, Exception] = {}

    def put(self, obj: Obj) -> None:
        meta = obj["metadata"]
        if obj["kind"] == "PersistentVolume":
            path = f"/api/v1/persistentvolumes/{meta['name']}"
        else:
            path = f"/api/v1/namespaces/{meta['namespace']}/persistentvolumeclaims/{meta['name']}"
        self.objects[path] = copy.deepcopy(obj)

    async def get(self, path: str) -> Obj:
        self.calls.append(("GET", path, None))
        if path in self.fail:
            raise self.fail[path]
        return copy.deepcopy(self.objects[path])

    async def patch(self, path: str, patch: Obj, *, patch_type: str = "merge") -> Obj:
        assert patch_type == "merge"
        self.calls.append(("PATCH", path, patch))
        base = path.removesuffix("/status")
        obj = self.objects[base]
        merge(obj, copy.deepcopy(patch))
        obj["metadata"]["resourceVersion"] = str(int(obj["metadata"]["resourceVersion"]) + 1)
        return copy.deepcopy(obj)

    def writes(self) -> list[tuple[str, Any]]:
        return [(path, body) for verb, path, body in self.calls if verb == "PATCH"]


def merge(target: Obj, patch: Obj) -> None:
    for key, value in patch.items():
        if isinstance(value, dict) and isinstance(target.get(key), dict):
            merge(target[key], value)
        else:
            target[key] = value


PV_PATH = "/api/v1/persistentvolumes/pv-1"
PVC_PATH = "/api/v1/namespaces/default/persistentvolumeclaims/data"


async def prebind(plugin: VolumeBinding, pod: Obj, node: str = "node-a") -> Status | None:
    state, status, results = run(plugin, pod)
    assert status is None
    assert results[node] == "fits", results
    assert plugin.reserve(state, PodInfo(pod), node) is None
    return await plugin.pre_bind(state, PodInfo(pod), node)


async def test_pre_bind_binds_the_chosen_volume() -> None:
    objects = handle(pvs=[pv("pv-1", nodes=["node-a"])], pvcs=[pvc("data")])
    client: FakeClient = objects.client
    client.put(pv("pv-1", nodes=["node-a"]))
    client.put(pvc("data"))
    assert await prebind(VolumeBinding({}, objects), pod_with("data")) is None
    claim_ref = {
        "kind": "PersistentVolumeClaim",
        "apiVersion": "v1",
        "namespace": "default",
        "name": "data",
        "uid": "uid-data",
        "resourceVersion": "3",
    }
    assert client.writes() == [
        (
            PV_PATH,
            {
                "metadata": {
                    "resourceVersion": "7",
                    "annotations": {"pv.kubernetes.io/bound-by-controller": "yes"},
                },
                "spec": {"claimRef": claim_ref},
            },
        ),
        (f"{PV_PATH}/status", {"status": {"phase": "Bound"}}),
        (
            PVC_PATH,
            {
                "metadata": {
                    "annotations": {
                        "pv.kubernetes.io/bind-completed": "yes",
                        "pv.kubernetes.io/bound-by-controller": "yes",
                    }
                },
                "spec": {"volumeName": "pv-1"},
            },
        ),
        (
            f"{PVC_PATH}/status",
            {
                "status": {
                    "phase": "Bound",
                    "accessModes": ["ReadWriteOnce"],
                    "capacity": {"storage": "10Gi"},
                }
            },
        ),
    ]


async def test_pre_bind_of_bound_volumes_writes_nothing() -> None:
    objects = handle(pvs=[pv("pv-1", claim="data")], pvcs=[BOUND])
    assert await prebind(VolumeBinding({}, objects), pod_with("data")) is None
    assert objects.client.calls == []


async def test_pre_bind_fails_when_someone_else_took_the_volume() -> None:
    objects = handle(pvs=[pv("pv-1")], pvcs=[pvc("data")])
    objects.client.put(pv("pv-1", claim="thief"))
    objects.client.put(pvc("data"))
    status = await prebind(VolumeBinding({}, objects), pod_with("data"))
    assert status is not None
    assert status.code == Code.ERROR
    assert status.message() == 'persistentvolume "pv-1" is already bound to another claim'
    assert objects.client.writes() == []


async def test_pre_bind_api_error_is_an_error_status() -> None:
    objects = handle(pvs=[pv("pv-1")], pvcs=[pvc("data")])
    objects.client.fail[PVC_PATH] = RuntimeError("500 InternalError: boom")
    status = await prebind(VolumeBinding({}, objects), pod_with("data"))
    assert status is not None
    assert (status.code, status.message()) == (Code.ERROR, "500 InternalError: boom")


PROVISIONED = [storage_class(provisioner="csi.example.com")]


async def test_pre_bind_asks_the_provisioner_and_binds_its_volume() -> None:
    # The provisioner's volume, pre-bound to the claim by uid, is already in the informer.
    made = pv("pvc-data", "5Gi", sc="local", claim="data", phase="Pending", nodes=["node-a"])
    objects = handle(pvcs=[pvc("data")], classes=PROVISIONED)
    objects.client.put(pvc("data"))
    plugin = VolumeBinding({}, objects)
    state, _, _ = run(plugin, pod_with("data"))
    objects.lister("persistentvolumes").add(made)
    objects.client.put(made)
    assert plugin.reserve(state, PodInfo(pod_with("data")), "node-a") is None
    assert await plugin.pre_bind(state, PodInfo(pod_with("data")), "node-a") is None
    writes = objects.client.writes()
    assert writes[0] == (
        PVC_PATH,
        {"metadata": {"annotations": {"volume.kubernetes.io/selected-node": "node-a"}}},
    )
    assert [path for path, _ in writes[1:]] == [
        "/api/v1/persistentvolumes/pvc-data/status",
        PVC_PATH,
        f"{PVC_PATH}/status",
    ]
    claim = objects.client.objects[PVC_PATH]
    assert claim["spec"]["volumeName"] == "pvc-data"
    assert claim["status"]["phase"] == "Bound"


async def test_pre_bind_times_out_waiting_for_the_provisioner() -> None:
    objects = handle(pvcs=[pvc("data")], classes=PROVISIONED)
    objects.client.put(pvc("data"))
    plugin = VolumeBinding({"bindTimeoutSeconds": 0}, objects)
    status = await prebind(plugin, pod_with("data"))
    assert status is not None
    assert (status.code, status.message()) == (
        Code.ERROR,
        "binding volumes: context deadline exceeded",
    )


async def test_pre_bind_fails_when_the_provisioner_gives_up() -> None:
    objects = handle(pvcs=[pvc("data")], classes=PROVISIONED)
    objects.client.put(pvc("data"))
    plugin = VolumeBinding({}, objects)
    state, _, _ = run(plugin, pod_with("data"))
    plugin.reserve(state, PodInfo(pod_with("data")), "node-a")
    client: FakeClient = objects.client
    real_patch = client.patch

    async def patch_then_give_up(path: str, patch: Obj, *, patch_type: str = "merge") -> Obj:
        result = await real_patch(path, patch, patch_type=patch_type)
        del objects.client.objects[PVC_PATH]["metadata"]["annotations"][
            "volume.kubernetes.io/selected-node"
        ]
        return result

    client.patch = patch_then_give_up  # type: ignore[method-assign]
    status = await plugin.pre_bind(state, PodInfo(pod_with("data")), "node-a")
    assert status is not None
    assert status.message() == 'binding volumes: provisioning failed for PVC "data"'


# -- args and events ------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("args", "timeout"), [({}, 600.0), ({"bindTimeoutSeconds": 30, "shape": []}, 30.0)]
)
def test_args(args: Obj, timeout: float) -> None:
    assert new(args, handle()).bind_timeout == timeout


def test_negative_bind_timeout_is_rejected() -> None:
    with pytest.raises(ValueError, match="should not be a negative value"):
        VolumeBinding({"bindTimeoutSeconds": -1}, handle())


def test_events_to_register() -> None:
    events = VolumeBinding({}, handle()).events_to_register()
    for resource in ("PersistentVolumeClaim", "PersistentVolume", "StorageClass", "Node"):
        assert any(e.covers(ClusterEvent(resource, ActionType.UPDATE)) for e in events)
        assert any(e.covers(ClusterEvent(resource, ActionType.ADD)) for e in events)
