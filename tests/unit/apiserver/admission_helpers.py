"""Shared by the admission plugin tests: catalog entries, objects and attributes."""

from __future__ import annotations

from typing import Any

from pocketkube.apiserver.admission import Attributes, Operation
from pocketkube.apiserver.resources import Resource
from pocketkube.apiserver.resources_builtin import builtin_catalog

CATALOG = builtin_catalog()


def resource(group: str, version: str, plural: str) -> Resource:
    found = CATALOG.get(group, version, plural)
    assert found is not None
    return found


PODS = resource("", "v1", "pods")
CONFIGMAPS = resource("", "v1", "configmaps")
NAMESPACES = resource("", "v1", "namespaces")
PRIORITY_CLASSES = resource("scheduling.k8s.io", "v1", "priorityclasses")


def pod(name: str = "p", **spec: Any) -> dict[str, Any]:
    return {
        "metadata": {"name": name},
        "spec": {"containers": [{"name": "c", "image": "busybox"}], **spec},
    }


def pod_create(obj: dict[str, Any], namespace: str = "default") -> Attributes:
    return Attributes(resource=PODS, namespace=namespace, obj=obj)


def pod_update(obj: dict[str, Any], old: dict[str, Any]) -> Attributes:
    return Attributes(
        resource=PODS, namespace="default", obj=obj, operation=Operation.UPDATE, old=old
    )


def priority_class(name: str, value: int, **fields: Any) -> dict[str, Any]:
    return {"metadata": {"name": name}, "value": value, **fields}
