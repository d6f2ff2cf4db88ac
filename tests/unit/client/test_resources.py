"""Resource paths: the one rule of the REST API's layout."""

from __future__ import annotations

from typing import Any

import pytest

from pocketkube.client import resources
from pocketkube.client.resources import (
    DEPLOYMENTS,
    EVENTS_V1,
    NODES,
    PODS,
    PRIORITY_CLASSES,
    Resource,
)


@pytest.mark.parametrize(
    ("resource", "kwargs", "path"),
    [
        (PODS, {}, "/api/v1/pods"),
        (PODS, {"namespace": "ns"}, "/api/v1/namespaces/ns/pods"),
        (PODS, {"namespace": "ns", "name": "p"}, "/api/v1/namespaces/ns/pods/p"),
        (
            PODS,
            {"namespace": "ns", "name": "p", "subresource": "binding"},
            "/api/v1/namespaces/ns/pods/p/binding",
        ),
        (NODES, {}, "/api/v1/nodes"),
        (NODES, {"name": "n1", "subresource": "status"}, "/api/v1/nodes/n1/status"),
        (DEPLOYMENTS, {"namespace": "ns"}, "/apis/apps/v1/namespaces/ns/deployments"),
        (DEPLOYMENTS, {}, "/apis/apps/v1/deployments"),
        (PRIORITY_CLASSES, {"name": "high"}, "/apis/scheduling.k8s.io/v1/priorityclasses/high"),
        (EVENTS_V1, {"namespace": "ns"}, "/apis/events.k8s.io/v1/namespaces/ns/events"),
    ],
)
def test_paths(resource: Resource, kwargs: dict[str, Any], path: str) -> None:
    assert resource.path(**kwargs) == path


@pytest.mark.parametrize(
    ("resource", "kwargs", "message"),
    [
        (NODES, {"namespace": "ns"}, "cluster-scoped"),
        (PODS, {"name": "p"}, "needs a namespace"),
        (PODS, {"namespace": "ns", "subresource": "status"}, "needs an object name"),
    ],
)
def test_impossible_paths_are_bugs(
    resource: Resource, kwargs: dict[str, Any], message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        resource.path(**kwargs)


def test_api_versions() -> None:
    assert PODS.api_version == "v1"
    assert DEPLOYMENTS.api_version == "apps/v1"


def test_every_constant_is_served_by_our_api_server() -> None:
    from pocketkube.apiserver.resources_builtin import BUILTIN_RESOURCES

    served = {(r.group, r.version, r.plural): (r.kind, r.namespaced) for r in BUILTIN_RESOURCES}
    constants = [v for v in vars(resources).values() if isinstance(v, Resource)]
    assert len(constants) >= 25
    for r in constants:
        assert served.get((r.group, r.version, r.plural)) == (r.kind, r.namespaced), r
