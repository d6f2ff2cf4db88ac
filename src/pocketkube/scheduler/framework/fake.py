"""Fakes for plugin unit tests: a Handle over plain dicts, and builders of nodes and pods."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any, Literal

from pocketkube.scheduler.framework.snapshot import NodeSnapshot
from pocketkube.scheduler.framework.types import NodeInfo, PodInfo

Obj = dict[str, Any]


class DictLister:
    def __init__(self, objects: Iterable[Obj] = ()) -> None:
        self.objects: dict[str, Obj] = {}
        for obj in objects:
            self.add(obj)

    def add(self, obj: Obj) -> None:
        meta = obj.get("metadata") or {}
        namespace, name = meta.get("namespace"), meta.get("name", "")
        self.objects[f"{namespace}/{name}" if namespace else name] = obj

    def get(self, key: str) -> Obj | None:
        return self.objects.get(key)

    def list(self) -> list[Obj]:
        return list(self.objects.values())


class FakeRecorder:
    """Keeps posted events as dicts (regarding name, type, reason, action, note)."""

    def __init__(self) -> None:
        self.events: list[Obj] = []

    def post(
        self,
        regarding: Obj,
        *,
        type: Literal["Normal", "Warning"],
        reason: str,
        action: str,
        note: str,
        related: Obj | None = None,
    ) -> None:
        name = (regarding.get("metadata") or {}).get("name", "")
        self.events.append(
            {"regarding": name, "type": type, "reason": reason, "action": action, "note": note}
        )


class FakeHandle:
    """A Handle whose snapshot is given and whose listers are dicts (``resource`` → objects)."""

    def __init__(
        self,
        *,
        nodes: Iterable[NodeInfo] = (),
        objects: Mapping[str, Iterable[Obj]] | None = None,
        client: Any = None,
        nominated: Mapping[str, list[PodInfo]] | None = None,
    ) -> None:
        self._snapshot = NodeSnapshot(nodes)
        self._listers = {name: DictLister(objs) for name, objs in (objects or {}).items()}
        self._client = client
        self._framework: Any = None
        self._nominated = dict(nominated or {})
        self._recorder = FakeRecorder()

    @property
    def recorder(self) -> FakeRecorder:
        return self._recorder

    @property
    def snapshot(self) -> NodeSnapshot:
        return self._snapshot

    @property
    def client(self) -> Any:
        return self._client

    def lister(self, resource: str) -> DictLister:
        return self._listers.setdefault(resource, DictLister())

    def framework(self) -> Any:
        return self._framework

    def set_framework(self, framework: Any) -> None:
        self._framework = framework

    def nominated_pods_for_node(self, node_name: str) -> list[PodInfo]:
        return list(self._nominated.get(node_name, []))


def make_node(
    name: str,
    *,
    cpu: str = "4",
    memory: str = "8Gi",
    pods: int = 110,
    labels: Mapping[str, str] | None = None,
    taints: list[Obj] | None = None,
    unschedulable: bool = False,
    extra: Mapping[str, Any] | None = None,
    images: list[Obj] | None = None,
) -> Obj:
    allocatable = {"cpu": cpu, "memory": memory, "pods": str(pods), **(extra or {})}
    node: Obj = {
        "apiVersion": "v1",
        "kind": "Node",
        "metadata": {
            "name": name,
            "labels": {"kubernetes.io/hostname": name, **(labels or {})},
        },
        "spec": {},
        "status": {"capacity": dict(allocatable), "allocatable": allocatable},
    }
    if taints:
        node["spec"]["taints"] = taints
    if unschedulable:
        node["spec"]["unschedulable"] = True
    if images:
        node["status"]["images"] = images
    return node


def make_pod(
    name: str,
    *,
    namespace: str = "default",
    cpu: str | None = None,
    memory: str | None = None,
    labels: Mapping[str, str] | None = None,
    node_name: str = "",
    priority: int | None = None,
    spec: Mapping[str, Any] | None = None,
    uid: str | None = None,
) -> Obj:
    requests = {k: v for k, v in (("cpu", cpu), ("memory", memory)) if v is not None}
    container: Obj = {"name": "app", "image": "busybox"}
    if requests:
        container["resources"] = {"requests": requests}
    pod: Obj = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {
            "name": name,
            "namespace": namespace,
            "uid": uid or f"uid-{namespace}-{name}",
            "labels": dict(labels or {}),
        },
        "spec": {"containers": [container], **(spec or {})},
        "status": {},
    }
    if node_name:
        pod["spec"]["nodeName"] = node_name
    if priority is not None:
        pod["spec"]["priority"] = priority
    return pod


def node_info(node: Obj, *pods: Obj) -> NodeInfo:
    info = NodeInfo(node)
    for pod in pods:
        info.add_pod(PodInfo(pod))
    return info
