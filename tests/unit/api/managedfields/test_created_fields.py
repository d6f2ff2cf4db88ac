"""`created_fields` (the create fast path) writes exactly what the general Update path does."""

from __future__ import annotations

from typing import Any

import orjson
import pytest

from pocketkube.api.managedfields import MISSING, FieldSet, ManagedFields, created_fields
from pocketkube.apiserver import fieldmanager
from pocketkube.apiserver.resources_builtin import builtin_catalog

POD = {
    "apiVersion": "v1",
    "kind": "Pod",
    "metadata": {
        "name": "p",
        "namespace": "default",
        "uid": "u",
        "creationTimestamp": "2026-01-01T00:00:00Z",
        "generation": 1,
        "labels": {"app": "x"},
        "annotations": {},
        "finalizers": ["a", "b"],
        "ownerReferences": [{"apiVersion": "v1", "kind": "X", "name": "o", "uid": "1"}],
    },
    "spec": {
        "containers": [
            {
                "name": "c",
                "image": "nginx",
                "ports": [{"containerPort": 80}, {"containerPort": 53, "protocol": "UDP"}],
                "env": [{"name": "A", "value": "1"}, {"name": "A", "value": "2"}],
                "resources": {},
                "args": ["x", "y"],
            }
        ],
        "nodeSelector": {"disk": "ssd"},
        "tolerations": [{"key": "k", "operator": "Exists"}],
        "affinity": None,
    },
    "status": {"phase": "Pending"},
}
DEPLOYMENT = {
    "apiVersion": "apps/v1",
    "kind": "Deployment",
    "metadata": {"name": "d"},
    "spec": {"replicas": 1, "selector": {"matchLabels": {"a": "b"}}, "template": {}},
}
CUSTOM = {
    "apiVersion": "x.io/v1",
    "kind": "Thing",
    "metadata": {"name": "t"},
    "spec": {"free": {"a": [1, 2], "b": {"c": None}}},
}


def _general(obj: dict[str, Any], writer: fieldmanager.Writer) -> Any:
    managed = ManagedFields()
    managed.update(
        MISSING,
        obj,
        writer.node,
        manager=writer.manager,
        api_version=writer.api_version,
        subresource=writer.subresource,
        now="2026-01-01T00:00:00Z",
        ignored=writer.ignored,
    )
    return managed.encode()


@pytest.mark.parametrize(
    ("obj", "resource", "subresource"),
    [
        (POD, ("", "v1", "pods"), ""),
        (POD, ("", "v1", "pods"), "status"),
        (POD, ("", "v1", "configmaps"), ""),
        (DEPLOYMENT, ("apps", "v1", "deployments"), ""),
        (CUSTOM, ("", "v1", "configmaps"), ""),
        (
            {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "x"}},
            ("", "v1", "configmaps"),
            "",
        ),
    ],
)
def test_created_fields_matches_the_general_update(
    obj: dict[str, Any], resource: tuple[str, str, str], subresource: str
) -> None:
    entry = builtin_catalog().get(*resource)
    assert entry is not None
    writer = fieldmanager.writer_for(
        entry, custom_schema=None, query={}, user_agent="me/1", subresource=subresource
    )
    fast = created_fields(
        obj,
        writer.node,
        manager=writer.manager,
        api_version=writer.api_version,
        subresource=writer.subresource,
        now="2026-01-01T00:00:00Z",
        ignored=writer.ignored,
    )
    general = _general(obj, writer)
    assert fast == general
    assert orjson.dumps(fast) == orjson.dumps(general)  # the same order too: the same bytes


def test_nothing_to_own_gives_no_entry() -> None:
    entry = builtin_catalog().get("", "v1", "configmaps")
    assert entry is not None
    node = fieldmanager.type_of(entry, None)
    bare = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "x", "uid": "u"}}
    assert (
        created_fields(
            bare, node, manager="m", api_version="v1", subresource="", now="t", ignored=FieldSet()
        )
        is None
    )


@pytest.mark.parametrize(
    ("given", "stored"),
    [
        ("2026-01-02T03:04:05Z", "2026-01-02T03:04:05Z"),
        ("2026-01-02T03:04:05+00:00", "2026-01-02T03:04:05Z"),
        ("2026-01-02T05:04:05+02:00", "2026-01-02T03:04:05Z"),
        ("not a time", "not a time"),
    ],
)
def test_entry_times_are_written_as_upstream_writes_them(given: str, stored: str) -> None:
    raw = [
        {
            "manager": "m",
            "operation": "Update",
            "apiVersion": "v1",
            "time": given,
            "fieldsType": "FieldsV1",
            "fieldsV1": {"f:data": {}},
        }
    ]
    encoded = ManagedFields.decode(raw).encode()
    assert encoded is not None
    assert encoded[0]["time"] == stored
