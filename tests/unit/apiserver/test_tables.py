"""Server-side Table output against what upstream's printers produce for the same objects."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
import pytest

from pocketkube.apiserver.tables import (
    JSONPathError,
    column_definitions,
    crd_column_definitions,
    crd_table,
    human_duration,
    to_table,
)
from pocketkube.apiserver.tables.crd import go_float
from pocketkube.apiserver.tables.jsonpath import evaluate, parse

NOW = datetime(2025, 1, 1, 12, 0, 0, tzinfo=UTC)


def ago(**kwargs: float) -> str:
    return (NOW - timedelta(**kwargs)).strftime("%Y-%m-%dT%H:%M:%SZ")


def cells(kind: str, obj: dict[str, Any]) -> list[Any]:
    table = to_table(kind, [obj], list_meta={}, now=NOW)
    row: list[Any] = table["rows"][0]["cells"]
    return row


# -- durations ------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("delta", "expected"),
    [
        (timedelta(0), "0s"),
        (timedelta(seconds=59), "59s"),
        (timedelta(seconds=119), "119s"),
        (timedelta(minutes=2), "2m"),
        (timedelta(minutes=5, seconds=30), "5m30s"),
        (timedelta(minutes=10, seconds=30), "10m"),
        (timedelta(minutes=90), "90m"),
        (timedelta(minutes=179), "179m"),
        (timedelta(hours=3), "3h"),
        (timedelta(hours=3, minutes=5), "3h5m"),
        (timedelta(hours=10, minutes=5), "10h"),
        (timedelta(hours=47), "47h"),
        (timedelta(days=2), "2d"),
        (timedelta(days=3, hours=4), "3d4h"),
        (timedelta(days=8, hours=4), "8d"),
        (timedelta(days=400), "400d"),
        (timedelta(days=730), "2y"),
        (timedelta(days=800), "2y70d"),
        (timedelta(days=365 * 10), "10y"),
        (timedelta(seconds=-1), "0s"),
        (timedelta(seconds=-1.5), "0s"),
        (timedelta(seconds=-2), "<invalid>"),
    ],
)
def test_human_duration(delta: timedelta, expected: str) -> None:
    assert human_duration(delta) == expected


@pytest.mark.parametrize(
    ("created", "expected"),
    [(ago(minutes=5), "5m"), (None, "<unknown>"), (ago(seconds=-30), "<invalid>")],
)
def test_age_cell(created: str | None, expected: str) -> None:
    meta: dict[str, Any] = {"name": "x"}
    if created:
        meta["creationTimestamp"] = created
    assert cells("Namespace", {"metadata": meta, "status": {"phase": "Active"}}) == [
        "x",
        "Active",
        expected,
    ]


# -- pods -----------------------------------------------------------------------------------------
def pod(
    *,
    phase: str = "Running",
    containers: int = 1,
    statuses: list[dict[str, Any]] | None = None,
    init: list[dict[str, Any]] | None = None,
    init_statuses: list[dict[str, Any]] | None = None,
    conditions: list[dict[str, Any]] | None = None,
    deleting: bool = False,
    reason: str = "",
) -> dict[str, Any]:
    meta: dict[str, Any] = {"name": "p", "namespace": "default", "creationTimestamp": ago(hours=1)}
    if deleting:
        meta["deletionTimestamp"] = ago(seconds=5)
    status: dict[str, Any] = {"phase": phase}
    if reason:
        status["reason"] = reason
    if statuses is not None:
        status["containerStatuses"] = statuses
    if init_statuses is not None:
        status["initContainerStatuses"] = init_statuses
    if conditions is not None:
        status["conditions"] = conditions
    spec: dict[str, Any] = {"containers": [{"name": f"c{i}"} for i in range(containers)]}
    if init is not None:
        spec["initContainers"] = init
    return {"metadata": meta, "spec": spec, "status": status}


RUNNING = {"name": "c0", "ready": True, "restartCount": 0, "state": {"running": {}}}


def waiting(reason: str) -> dict[str, Any]:
    return {
        "name": "c0",
        "ready": False,
        "restartCount": 0,
        "state": {"waiting": {"reason": reason}},
    }


def terminated(name: str = "c0", **term: Any) -> dict[str, Any]:
    return {"name": name, "ready": False, "restartCount": 0, "state": {"terminated": term}}


@pytest.mark.parametrize(
    ("obj", "ready", "status", "restarts"),
    [
        pytest.param(pod(phase="Pending"), "0/1", "Pending", "0", id="pending"),
        pytest.param(
            pod(phase="Pending", statuses=[waiting("ContainerCreating")]),
            "0/1",
            "ContainerCreating",
            "0",
            id="creating",
        ),
        pytest.param(pod(statuses=[RUNNING]), "1/1", "Running", "0", id="running"),
        pytest.param(
            pod(
                statuses=[
                    {
                        **waiting("CrashLoopBackOff"),
                        "restartCount": 5,
                        "lastState": {"terminated": {"exitCode": 1, "finishedAt": ago(minutes=5)}},
                    }
                ],
            ),
            "0/1",
            "CrashLoopBackOff",
            "5 (5m ago)",
            id="crashloop",
        ),
        pytest.param(
            pod(phase="Succeeded", statuses=[terminated(reason="Completed", exitCode=0)]),
            "0/1",
            "Completed",
            "0",
            id="completed",
        ),
        pytest.param(
            pod(statuses=[terminated(exitCode=137)]), "0/1", "ExitCode:137", "0", id="exitcode"
        ),
        pytest.param(
            pod(statuses=[terminated(exitCode=0, signal=9)]), "0/1", "Signal:9", "0", id="signal"
        ),
        pytest.param(
            pod(
                phase="Pending",
                init=[{"name": "i0"}, {"name": "i1"}],
                init_statuses=[{"name": "i0", "state": {"running": {}}}, {"name": "i1"}],
            ),
            "0/1",
            "Init:0/2",
            "0",
            id="init-0-of-2",
        ),
        pytest.param(
            pod(
                phase="Pending",
                init=[{"name": "i0"}, {"name": "i1"}],
                init_statuses=[
                    terminated("i0", exitCode=0, reason="Completed"),
                    {"name": "i1", "state": {"waiting": {"reason": "PodInitializing"}}},
                ],
            ),
            "0/1",
            "Init:1/2",
            "0",
            id="init-1-of-2",
        ),
        pytest.param(
            pod(
                phase="Pending",
                init=[{"name": "i0"}],
                init_statuses=[
                    {
                        "name": "i0",
                        "restartCount": 3,
                        "state": {"waiting": {"reason": "CrashLoopBackOff"}},
                    }
                ],
            ),
            "0/1",
            "Init:CrashLoopBackOff",
            "3",
            id="init-crashloop",
        ),
        pytest.param(
            pod(
                phase="Pending",
                init=[{"name": "i0"}],
                init_statuses=[terminated("i0", exitCode=1, reason="Error")],
            ),
            "0/1",
            "Init:Error",
            "0",
            id="init-error",
        ),
        pytest.param(
            pod(
                phase="Pending",
                init=[{"name": "i0"}],
                init_statuses=[terminated("i0", exitCode=2)],
            ),
            "0/1",
            "Init:ExitCode:2",
            "0",
            id="init-exitcode",
        ),
        pytest.param(
            pod(
                init=[{"name": "side", "restartPolicy": "Always"}],
                init_statuses=[
                    {
                        "name": "side",
                        "started": True,
                        "ready": True,
                        "restartCount": 2,
                        "state": {"running": {}},
                    }
                ],
                statuses=[RUNNING],
            ),
            "2/2",
            "Running",
            "2",
            id="sidecar",
        ),
        pytest.param(
            pod(
                containers=2,
                statuses=[RUNNING, terminated("c1", exitCode=0, reason="Completed")],
                conditions=[{"type": "Ready", "status": "False"}],
            ),
            "1/2",
            "NotReady",
            "0",
            id="completed-but-running-not-ready",
        ),
        pytest.param(
            pod(
                containers=2,
                statuses=[RUNNING, terminated("c1", exitCode=0, reason="Completed")],
                conditions=[{"type": "Ready", "status": "True"}],
            ),
            "1/2",
            "Running",
            "0",
            id="completed-but-running-ready",
        ),
        pytest.param(
            pod(statuses=[RUNNING], deleting=True), "1/1", "Terminating", "0", id="terminating"
        ),
        pytest.param(
            pod(phase="Succeeded", deleting=True), "0/1", "Succeeded", "0", id="terminal-deleting"
        ),
        pytest.param(
            pod(statuses=[RUNNING], deleting=True, reason="NodeLost"),
            "1/1",
            "Unknown",
            "0",
            id="node-lost",
        ),
        pytest.param(pod(phase="Failed", reason="Evicted"), "0/1", "Evicted", "0", id="evicted"),
        pytest.param(
            pod(
                phase="Pending",
                conditions=[
                    {"type": "PodScheduled", "status": "False", "reason": "SchedulingGated"}
                ],
            ),
            "0/1",
            "SchedulingGated",
            "0",
            id="gated",
        ),
    ],
)
def test_pod_status(obj: dict[str, Any], ready: str, status: str, restarts: str) -> None:
    assert cells("Pod", obj)[:5] == ["p", ready, status, restarts, "60m"]


def test_pod_wide_cells_and_conditions() -> None:
    obj = pod(statuses=[RUNNING], conditions=[{"type": "gate-a", "status": "True"}])
    obj["spec"]["nodeName"] = "node-1"
    obj["spec"]["readinessGates"] = [{"conditionType": "gate-a"}, {"conditionType": "gate-b"}]
    obj["status"]["podIPs"] = [{"ip": "10.0.0.5"}, {"ip": "fd00::5"}]
    assert cells("Pod", obj)[5:] == ["10.0.0.5", "node-1", "<none>", "1/2"]
    assert cells("Pod", pod())[5:] == ["<none>", "<none>", "<none>", "<none>"]

    done = to_table("Pod", [pod(phase="Succeeded")], list_meta={}, now=NOW)["rows"][0]
    assert done["conditions"] == [
        {
            "type": "Completed",
            "status": "True",
            "reason": "Succeeded",
            "message": "The pod has completed successfully.",
        }
    ]
    assert "conditions" not in to_table("Pod", [pod()], list_meta={}, now=NOW)["rows"][0]


def test_cached_pod_cells_keep_time_relative_cells_current() -> None:
    restarted = {
        **RUNNING,
        "restartCount": 2,
        "lastState": {"terminated": {"finishedAt": ago(minutes=5)}},
    }
    obj = pod(statuses=[restarted])
    obj["metadata"].update(uid="uid-cached", resourceVersion="7")
    later = NOW + timedelta(minutes=10)
    first = to_table("Pod", [obj], list_meta={}, now=NOW)["rows"][0]["cells"]
    again = to_table("Pod", [obj], list_meta={}, now=later)["rows"][0]["cells"]
    assert first[:5] == ["p", "1/1", "Running", "2 (5m ago)", "60m"]
    assert again[:5] == ["p", "1/1", "Running", "2 (15m ago)", "70m"]
    changed = {**obj, "metadata": {**obj["metadata"], "resourceVersion": "8"}}
    changed["status"] = {**obj["status"], "phase": "Pending", "containerStatuses": [RUNNING]}
    assert cells("Pod", changed)[:4] == ["p", "1/1", "Pending", "0"]


def test_pod_columns() -> None:
    cols = column_definitions("Pod")
    assert [(c["name"], c["type"], c["format"], c["priority"]) for c in cols] == [
        ("Name", "string", "name", 0),
        ("Ready", "string", "", 0),
        ("Status", "string", "", 0),
        ("Restarts", "string", "", 0),
        ("Age", "string", "", 0),
        ("IP", "string", "", 1),
        ("Node", "string", "", 1),
        ("Nominated Node", "string", "", 1),
        ("Readiness Gates", "string", "", 1),
    ]
    assert cols[0]["description"].startswith("Name must be unique within a namespace.")


# -- services, nodes, events, endpoints -----------------------------------------------------------
def service(svc_type: str, **spec: Any) -> dict[str, Any]:
    return {
        "metadata": {"name": "s", "creationTimestamp": ago(days=2)},
        "spec": {"type": svc_type, **spec},
    }


@pytest.mark.parametrize(
    ("obj", "expected"),
    [
        pytest.param(
            service(
                "NodePort",
                clusterIP="10.96.0.10",
                ports=[
                    {"port": 80, "protocol": "TCP"},
                    {"port": 443, "nodePort": 30443, "protocol": "TCP"},
                ],
                selector={"app": "web", "tier": "fe"},
            ),
            [
                "s",
                "NodePort",
                "10.96.0.10",
                "<none>",
                "80/TCP,443:30443/TCP",
                "2d",
                "app=web,tier=fe",
            ],
            id="nodeport",
        ),
        pytest.param(
            service("ClusterIP", clusterIP="None", clusterIPs=["None"]),
            ["s", "ClusterIP", "None", "<none>", "<none>", "2d", "<none>"],
            id="headless",
        ),
        pytest.param(
            service(
                "LoadBalancer", clusterIPs=["10.96.0.11"], ports=[{"port": 53, "protocol": "UDP"}]
            ),
            ["s", "LoadBalancer", "10.96.0.11", "<pending>", "53/UDP", "2d", "<none>"],
            id="lb-pending",
        ),
        pytest.param(
            {
                **service("LoadBalancer", clusterIP="10.96.0.12", externalIPs=["1.2.3.4"]),
                "status": {
                    "loadBalancer": {"ingress": [{"ip": "5.6.7.8"}, {"hostname": "lb.example"}]}
                },
            },
            [
                "s",
                "LoadBalancer",
                "10.96.0.12",
                "5.6.7.8,lb.example,1.2.3.4",
                "<none>",
                "2d",
                "<none>",
            ],
            id="lb-ingress",
        ),
        pytest.param(
            service("ExternalName", externalName="db.example.com"),
            ["s", "ExternalName", "<none>", "db.example.com", "<none>", "2d", "<none>"],
            id="externalname",
        ),
    ],
)
def test_service_cells(obj: dict[str, Any], expected: list[Any]) -> None:
    assert cells("Service", obj) == expected


def node(
    labels: dict[str, str], conditions: list[dict[str, str]], unschedulable: bool = False
) -> dict[str, Any]:
    return {
        "metadata": {"name": "n1", "labels": labels, "creationTimestamp": ago(days=3)},
        "spec": {"unschedulable": unschedulable},
        "status": {
            "conditions": conditions,
            "addresses": [{"type": "InternalIP", "address": "192.168.1.5"}],
            "nodeInfo": {"kubeletVersion": "v1.33.0", "osImage": "Debian"},
        },
    }


@pytest.mark.parametrize(
    ("labels", "conditions", "unschedulable", "status", "roles"),
    [
        ({}, [{"type": "Ready", "status": "True"}], False, "Ready", "<none>"),
        (
            {"node-role.kubernetes.io/control-plane": "", "node-role.kubernetes.io/etcd": "true"},
            [{"type": "Ready", "status": "False"}],
            False,
            "NotReady",
            "control-plane,etcd",
        ),
        (
            {"kubernetes.io/role": "worker"},
            [{"type": "Ready", "status": "Unknown"}],
            True,
            "NotReady,SchedulingDisabled",
            "worker",
        ),
        ({"node-role.kubernetes.io/": ""}, [], True, "Unknown,SchedulingDisabled", "<none>"),
    ],
)
def test_node_cells(
    labels: dict[str, str],
    conditions: list[dict[str, str]],
    unschedulable: bool,
    status: str,
    roles: str,
) -> None:
    assert cells("Node", node(labels, conditions, unschedulable)) == [
        "n1",
        status,
        roles,
        "3d",
        "v1.33.0",
        "192.168.1.5",
        "<none>",
        "Debian",
        "<unknown>",
        "<unknown>",
    ]


def test_event_cells() -> None:
    event = {
        "metadata": {"name": "p.17a", "creationTimestamp": ago(minutes=10)},
        "involvedObject": {"kind": "Pod", "name": "p", "fieldPath": "spec.containers{c}"},
        "reason": "Pulled",
        "message": " pulled image \n",
        "type": "Normal",
        "source": {"component": "kubelet", "host": "n1"},
        "firstTimestamp": ago(minutes=10),
        "lastTimestamp": ago(minutes=2),
        "count": 3,
    }
    assert cells("Event", event) == [
        "2m",
        "Normal",
        "Pulled",
        "pod/p",
        "spec.containers{c}",
        "kubelet, n1",
        "pulled image",
        "10m",
        3,
        "p.17a",
    ]
    new_api = {
        "metadata": {"name": "e"},
        "involvedObject": {"kind": "Node"},
        "eventTime": (NOW - timedelta(seconds=30)).isoformat().replace("+00:00", "Z"),
        "reportingComponent": "scheduler",
    }
    assert cells("Event", new_api) == ["30s", "", "", "node", "", "scheduler", "", "30s", 1, "e"]
    names = [c["name"] for c in column_definitions("Event") if c["priority"] == 0]
    assert names == ["Last Seen", "Type", "Reason", "Object", "Message"]


def test_endpoints_and_slices() -> None:
    endpoints = {
        "metadata": {"name": "e", "creationTimestamp": ago(hours=1)},
        "subsets": [
            {
                "addresses": [{"ip": "10.0.0.1"}, {"ip": "10.0.0.2"}, {"ip": "fd00::3"}],
                "ports": [{"port": 80}, {"port": 443}],
            }
        ],
    }
    assert cells("Endpoints", endpoints) == [
        "e",
        "10.0.0.1:80,10.0.0.2:80,[fd00::3]:80 + 3 more...",
        "60m",
    ]
    assert cells("Endpoints", {"metadata": {"name": "e"}})[1] == "<none>"
    es = {
        "metadata": {"name": "s-abc"},
        "addressType": "IPv4",
        "ports": [{"port": 80}, {"name": "dns"}, {}],
        "endpoints": [{"addresses": ["10.0.0.1"]}, {"addresses": ["10.0.0.2"]}],
    }
    assert cells("EndpointSlice", es) == [
        "s-abc",
        "IPv4",
        "80,dns,*",
        "10.0.0.1,10.0.0.2",
        "<unknown>",
    ]
    assert cells("EndpointSlice", {"metadata": {"name": "x"}})[2:4] == ["<unset>", "<unset>"]


@pytest.mark.parametrize(
    ("kind", "obj", "expected"),
    [
        ("ConfigMap", {"data": {"a": "1"}, "binaryData": {"b": "AA=="}}, ["x", 2, "60m"]),
        ("Secret", {"type": "Opaque", "data": {"a": "MQ=="}}, ["x", "Opaque", 1, "60m"]),
        ("ServiceAccount", {}, ["x", 0, "60m"]),
        ("Lease", {"spec": {"holderIdentity": "me"}}, ["x", "me", "60m"]),
        (
            "PriorityClass",
            {"value": 1000, "globalDefault": True, "preemptionPolicy": "Never"},
            ["x", 1000, True, "60m", "Never"],
        ),
    ],
)
def test_small_kinds(kind: str, obj: dict[str, Any], expected: list[Any]) -> None:
    obj = {"metadata": {"name": "x", "creationTimestamp": ago(hours=1)}, **obj}
    assert cells(kind, obj) == expected


# -- workloads ------------------------------------------------------------------------------------
TEMPLATE = {
    "spec": {
        "containers": [{"name": "web", "image": "nginx:1"}, {"name": "log", "image": "busybox"}]
    }
}


def test_deployment_and_replicaset() -> None:
    obj = {
        "metadata": {"name": "d", "creationTimestamp": ago(minutes=3)},
        "spec": {
            "replicas": 3,
            "selector": {
                "matchLabels": {"app": "web"},
                "matchExpressions": [{"key": "env", "operator": "In", "values": ["b", "a"]}],
            },
            "template": TEMPLATE,
        },
        "status": {"readyReplicas": 2, "updatedReplicas": 3, "availableReplicas": 2, "replicas": 3},
    }
    assert cells("Deployment", obj) == [
        "d",
        "2/3",
        3,
        2,
        "3m",
        "web,log",
        "nginx:1,busybox",
        "app=web,env in (a,b)",
    ]
    assert cells("ReplicaSet", obj) == [
        "d",
        3,
        3,
        2,
        "3m",
        "web,log",
        "nginx:1,busybox",
        "app=web,env in (a,b)",
    ]
    assert cells("StatefulSet", obj) == ["d", "2/3", "3m", "web,log", "nginx:1,busybox"]
    assert [c["name"] for c in column_definitions("Deployment")] == [
        "Name",
        "Ready",
        "Up-to-date",
        "Available",
        "Age",
        "Containers",
        "Images",
        "Selector",
    ]


def test_daemonset() -> None:
    obj = {
        "metadata": {"name": "ds", "creationTimestamp": ago(days=1)},
        "spec": {"selector": {"matchLabels": {"k": "v"}}, "template": TEMPLATE},
        "status": {"desiredNumberScheduled": 2, "currentNumberScheduled": 2, "numberReady": 1},
    }
    assert cells("DaemonSet", obj) == [
        "ds",
        2,
        2,
        1,
        0,
        0,
        "<none>",
        "24h",
        "web,log",
        "nginx:1,busybox",
        "k=v",
    ]


def job(conditions: list[dict[str, str]], **spec: Any) -> dict[str, Any]:
    return {
        "metadata": {"name": "j", "creationTimestamp": ago(minutes=10)},
        "spec": {"template": TEMPLATE, **spec},
        "status": {"conditions": conditions, "succeeded": 1, "startTime": ago(minutes=9)},
    }


@pytest.mark.parametrize(
    ("obj", "status", "completions", "duration"),
    [
        (job([], completions=3), "Running", "1/3", "9m"),
        (job([{"type": "Complete", "status": "True"}]), "Complete", "1/1", "9m"),
        (job([{"type": "Failed", "status": "True"}], parallelism=4), "Failed", "1/1 of 4", "9m"),
        (job([{"type": "Suspended", "status": "True"}]), "Suspended", "1/1", "9m"),
        (job([{"type": "Complete", "status": "False"}]), "Running", "1/1", "9m"),
        (job([{"type": "FailureTarget", "status": "True"}]), "FailureTarget", "1/1", "9m"),
    ],
)
def test_job_cells(obj: dict[str, Any], status: str, completions: str, duration: str) -> None:
    assert cells("Job", obj)[:5] == ["j", status, completions, duration, "10m"]


def test_job_duration_uses_completion_time() -> None:
    obj = job([{"type": "Complete", "status": "True"}])
    obj["status"]["completionTime"] = ago(minutes=8, seconds=30)
    assert cells("Job", obj)[3] == "30s"
    del obj["status"]["startTime"]
    assert cells("Job", obj)[3] == ""


def test_cronjob_cells() -> None:
    obj: dict[str, Any] = {
        "metadata": {"name": "cj", "creationTimestamp": ago(days=2)},
        "spec": {"schedule": "*/5 * * * *", "jobTemplate": {"spec": {"template": TEMPLATE}}},
        "status": {"active": [{"name": "cj-1"}], "lastScheduleTime": ago(minutes=4)},
    }
    assert cells("CronJob", obj) == [
        "cj",
        "*/5 * * * *",
        "<none>",
        "<unset>",
        1,
        "4m",
        "2d",
        "web,log",
        "nginx:1,busybox",
        "<none>",
    ]
    obj["spec"].update(suspend=False, timeZone="Etc/UTC")
    del obj["status"]
    assert cells("CronJob", obj)[2:6] == ["Etc/UTC", "False", 0, "<none>"]


# -- the Table envelope ---------------------------------------------------------------------------
OBJ = {
    "apiVersion": "rbac.authorization.k8s.io/v1",
    "kind": "ClusterRole",
    "metadata": {
        "name": "admin",
        "uid": "u1",
        "resourceVersion": "7",
        "creationTimestamp": "2024-05-06T07:08:09Z",
    },
    "rules": [],
}


def test_default_table_and_crd_kind() -> None:
    table = to_table(
        "ClusterRole", [OBJ], list_meta={"resourceVersion": "42", "continue": ""}, now=NOW
    )
    assert table["kind"] == "Table"
    assert table["apiVersion"] == "meta.k8s.io/v1"
    assert table["metadata"] == {"resourceVersion": "42"}
    assert [(c["name"], c["type"], c["format"]) for c in table["columnDefinitions"]] == [
        ("Name", "string", "name"),
        ("Created At", "date", ""),
    ]
    assert table["columnDefinitions"][0]["description"].startswith(
        "Name must be unique within a namespace"
    )
    assert table["rows"][0]["cells"] == ["admin", "2024-05-06T07:08:09Z"]
    assert column_definitions("CustomResourceDefinition") == table["columnDefinitions"]


@pytest.mark.parametrize(
    ("include", "expected"),
    [
        ("None", None),
        (
            "Metadata",
            {
                "kind": "PartialObjectMetadata",
                "apiVersion": "meta.k8s.io/v1",
                "metadata": OBJ["metadata"],
            },
        ),
        ("Object", OBJ),
    ],
)
def test_include_object(include: str, expected: dict[str, Any] | None) -> None:
    meta = {"resourceVersion": "9", "continue": "tok", "remainingItemCount": 3}
    table = to_table("ClusterRole", [OBJ], list_meta=meta, include_object=include, now=NOW)
    assert table["metadata"] == meta
    row = orjson.loads(orjson.dumps(table))["rows"][0]  # the metadata comes encoded
    assert row.get("object") == expected
    assert ("object" in table["rows"][0]) == (expected is not None)


def test_include_object_invalid() -> None:
    with pytest.raises(ValueError, match="Unsupported value"):
        to_table("Pod", [], list_meta={}, include_object="All")


def test_empty_list() -> None:
    table = to_table("Pod", [], list_meta={"resourceVersion": "1"}, now=NOW)
    assert table["rows"] == []
    assert len(table["columnDefinitions"]) == 9


# -- custom resources -----------------------------------------------------------------------------
WIDGET = {
    "apiVersion": "example.com/v1",
    "kind": "Widget",
    "metadata": {
        "name": "w1",
        "creationTimestamp": ago(hours=5),
        "labels": {"app.kubernetes.io/name": "w"},
    },
    "spec": {"replicas": 3, "ratio": 1.5, "enabled": True, "tags": ["a", "b"], "size": "big"},
    "status": {
        "conditions": [{"type": "Synced", "status": "False"}, {"type": "Ready", "status": "True"}],
        "lastSync": ago(minutes=7),
    },
}


def test_crd_table() -> None:
    columns: list[dict[str, Any]] = [
        {"name": "Replicas", "type": "integer", "jsonPath": ".spec.replicas"},
        {"name": "Ratio", "type": "number", "jsonPath": ".spec.ratio", "priority": 1},
        {"name": "Enabled", "type": "boolean", "jsonPath": ".spec.enabled"},
        {
            "name": "Ready",
            "type": "string",
            "jsonPath": '.status.conditions[?(@.type=="Ready")].status',
        },
        {"name": "Tag", "type": "string", "jsonPath": ".spec.tags[1]"},
        {"name": "Tags", "type": "string", "jsonPath": ".spec.tags"},
        {"name": "App", "type": "string", "jsonPath": ".metadata.labels['app.kubernetes.io/name']"},
        {"name": "Synced", "type": "date", "jsonPath": ".status.lastSync", "description": "last"},
        {"name": "Missing", "type": "string", "jsonPath": ".spec.nope"},
        {"name": "Wrong", "type": "integer", "jsonPath": ".spec.size"},
        {"name": "Count", "type": "string", "jsonPath": ".spec.replicas"},
    ]
    table = crd_table([WIDGET], columns, list_meta={"resourceVersion": "5"}, now=NOW)
    assert table["rows"][0]["cells"] == [
        "w1",
        3,
        1.5,
        True,
        "True",
        "b",
        '["a","b"]',
        "w",
        "7m",
        None,
        None,
        "3",
    ]
    defs = table["columnDefinitions"]
    assert defs == crd_column_definitions(columns)
    assert (
        defs[1]["description"]
        == "Custom resource definition column (in JSONPath format): .spec.replicas"
    )
    assert (defs[2]["priority"], defs[8]["description"]) == (1, "last")
    row = orjson.loads(orjson.dumps(table))["rows"][0]
    assert row["object"]["kind"] == "PartialObjectMetadata"


def test_crd_table_default_age_column() -> None:
    table = crd_table([WIDGET], [], list_meta={}, now=NOW)
    assert [(c["name"], c["type"]) for c in table["columnDefinitions"]] == [
        ("Name", "string"),
        ("Age", "date"),
    ]
    assert table["rows"][0]["cells"] == ["w1", "5h"]


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        (".spec.replicas", [3]),
        ("{.spec.replicas}", [3]),
        (".spec.tags[0]", ["a"]),
        (".spec.tags[-1]", ["b"]),
        (".spec.tags[*]", ["a", "b"]),
        (".spec.tags[0:1]", ["a"]),
        (".status.conditions[?(@.status!='True')].type", ["Synced"]),
        (".status.conditions[*].type", ["Synced", "Ready"]),
        ("..type", ["Synced", "Ready"]),
        (".metadata.labels.app\\.kubernetes\\.io/name", ["w"]),
        (".spec.tags[5]", []),
        (".spec.missing.deeper", []),
    ],
)
def test_jsonpath(path: str, expected: list[Any]) -> None:
    assert evaluate(parse(path), WIDGET) == expected


def test_jsonpath_invalid() -> None:
    with pytest.raises(JSONPathError):
        crd_table(
            [WIDGET], [{"name": "x", "type": "string", "jsonPath": ".a[?(@.b=~x)]"}], list_meta={}
        )


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (1.5, "1.5"),
        (3.0, "3"),
        (1e6, "1e+06"),
        (999999.5, "999999.5"),
        (0.0001, "0.0001"),
        (0.00001, "1e-05"),
        (-2.25, "-2.25"),
        (123456.0, "123456"),
    ],
)
def test_go_float(value: float, expected: str) -> None:
    assert go_float(value) == expected


def test_rows_keep_what_an_object_version_fixes() -> None:
    """A row's fixed cells, conditions and encoded metadata are computed once per (uid,
    resourceVersion); AGE is computed for each Table; a new version is printed afresh."""
    pod = {
        "metadata": {
            "name": "kept",
            "uid": "u-kept",
            "resourceVersion": "1",
            "creationTimestamp": "2024-05-06T07:00:00Z",
        },
        "spec": {"containers": [{"name": "c"}]},
        "status": {"phase": "Succeeded"},
    }
    meta = {"resourceVersion": "1"}
    first = to_table("Pod", [pod], list_meta=meta, now=NOW)["rows"][0]
    later = to_table("Pod", [pod], list_meta=meta, now=NOW + timedelta(days=2))["rows"][0]
    assert later["object"] is first["object"]  # the same encoded bytes
    assert later["conditions"] is first["conditions"]
    assert first["cells"][4] != later["cells"][4]  # AGE moved on
    assert first["cells"][:4] == later["cells"][:4]
    changed = {
        **pod,
        "metadata": {**pod["metadata"], "resourceVersion": "2", "labels": {"a": "2"}},
        "status": {"phase": "Running"},
    }
    row = orjson.loads(orjson.dumps(to_table("Pod", [changed], list_meta=meta, now=NOW)))["rows"][0]
    assert row["object"]["metadata"] == changed["metadata"]
    assert "conditions" not in row
    assert row["cells"][2] == "Running"
    anonymous = {"metadata": {"name": "no-uid"}}  # not kept, still right
    table = orjson.loads(orjson.dumps(to_table("Pod", [anonymous], list_meta=meta, now=NOW)))
    assert table["rows"][0]["object"]["metadata"] == {"name": "no-uid"}
