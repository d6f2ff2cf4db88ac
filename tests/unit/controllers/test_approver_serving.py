"""csrapproving's kubelet-serving auto-approval (a pocketkube choice): the node's own addresses."""

from __future__ import annotations

from typing import Any

import pytest

from pocketkube.client.resources import CERTIFICATE_SIGNING_REQUESTS
from pocketkube.client.rest import ApiError
from pocketkube.controllers.base import IgnorableError
from pocketkube.controllers.certificates import requests
from pocketkube.controllers.certificates.approver import SERVING_MESSAGE, CSRApprovingController
from pocketkube.kubelet.certbootstrap import generate_key
from pocketkube.kubelet.servingcert import KUBELET_SERVING_SIGNER, serving_csr
from tests.unit.controllers.fakes import FakeClient, informer

NODE = "/api/v1/nodes/n1"
NAME_OBJ = {
    "metadata": {"name": "n1"},
    "status": {
        "addresses": [
            {"type": "InternalIP", "address": "10.0.0.5"},
            {"type": "Hostname", "address": "host-a"},
        ]
    },
}


def csr(
    ips: tuple[str, ...] = ("10.0.0.5",),
    names: tuple[str, ...] = ("host-a", "n1"),
    username: str = "system:node:n1",
) -> dict[str, Any]:
    obj = serving_csr(generate_key(), "n1", ips, names)
    obj["metadata"].update(resourceVersion="1", uid="u")
    obj["spec"].update(username=username, groups=["system:nodes", "system:authenticated"])
    return obj


async def sync(client: FakeClient, obj: dict[str, Any]) -> None:
    ctrl = CSRApprovingController(
        client=client, csr_informer=informer(client, CERTIFICATE_SIGNING_REQUESTS, obj)
    )
    await ctrl.sync(obj["metadata"]["name"])


def test_the_kubelets_request_is_a_valid_serving_csr() -> None:
    obj = csr()
    assert obj["spec"]["signerName"] == KUBELET_SERVING_SIGNER
    request = requests.request_of(obj)
    requests.validate_kubelet_serving(request, obj["spec"]["usages"])
    assert sorted(requests.subject_alt_names(request)) == ["10.0.0.5", "host-a", "n1"]


async def test_approved_for_its_own_addresses() -> None:
    client = FakeClient(answers={("GET", NODE): NAME_OBJ})
    await sync(client, csr())
    (update,) = [c for c in client.calls if c.verb == "PUT"]
    assert update.path.endswith("/approval")
    (condition,) = update.body["status"]["conditions"]
    assert condition["type"] == "Approved"
    assert condition["reason"] == "AutoApproved"
    assert condition["message"] == SERVING_MESSAGE
    assert not [c for c in client.calls if "subjectaccessreviews" in c.path]


async def test_another_address_waits() -> None:
    client = FakeClient(answers={("GET", NODE): NAME_OBJ})
    with pytest.raises(IgnorableError, match="are not all addresses"):
        await sync(client, csr(ips=("10.0.0.9",)))
    assert client.writes() == []


async def test_another_requester_is_left_alone() -> None:
    client = FakeClient(answers={("GET", NODE): NAME_OBJ})
    await sync(client, csr(username="system:node:n2"))
    assert client.calls == []


async def test_unregistered_node_waits() -> None:
    client = FakeClient(answers={("GET", NODE): ApiError(404, "NotFound", "not found")})
    with pytest.raises(IgnorableError, match="not registered yet"):
        await sync(client, csr())
    assert client.writes() == []
