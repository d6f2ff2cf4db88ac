"""CertificateSigningRequests in the API server: the strategy of each write path, the registry
over the in-memory datastore, the Table, and the protobuf body kubectl sends to /approval."""

from __future__ import annotations

import base64
import copy
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from pocketkube.api.status import StatusError
from pocketkube.apiserver.csrs import (
    CSRRegistry,
    prepare_for_create,
    prepare_for_update,
    stamp_conditions,
)
from pocketkube.apiserver.identity import REQUEST_USER, Identity
from pocketkube.apiserver.protobuf import decode_kubernetes_protobuf
from pocketkube.apiserver.registry import ResourceInfo, ResourceRegistry
from pocketkube.apiserver.tables import column_definitions, to_table
from pocketkube.storage.memory import MemoryBackend
from pocketkube.storage.store import KVStorage
from tests.unit.api.test_certificates import b64, cert_pem, csr_pem
from tests.unit.apiserver.test_protobuf import envelope, ld, msg, num

CSRS = ResourceInfo(
    group="certificates.k8s.io",
    version="v1",
    kind="CertificateSigningRequest",
    plural="certificatesigningrequests",
    namespaced=False,
    storage_prefix="/certificatesigningrequests/",
)
NODE = Identity("system:bootstrap:abcdef", ("system:bootstrappers", "system:authenticated"))
T0, T1 = "2024-01-01T00:00:00Z", "2024-01-02T00:00:00Z"
CERT = b64(cert_pem())  # ECDSA signatures differ each time: one certificate for all tests


def new_csr(name: str = "node-csr-Ab_9") -> dict[str, Any]:
    return {
        "metadata": {"name": name},
        "spec": {
            "request": b64(csr_pem()),
            "signerName": "kubernetes.io/kube-apiserver-client-kubelet",
            "usages": ["digital signature", "client auth"],
            "username": "admin",
            "groups": ["system:masters"],
            "extra": {"x": ["y"]},
            "uid": "forged",
        },
        "status": {"conditions": [{"type": "Approved", "status": "True"}]},
    }


def cond(kind: str, **extra: Any) -> dict[str, Any]:
    return {"type": kind, "status": "True", **extra}


def test_create_records_the_requester_and_clears_status() -> None:
    obj = new_csr()
    prepare_for_create(obj, NODE)
    assert obj["spec"]["username"] == "system:bootstrap:abcdef"
    assert obj["spec"]["groups"] == ["system:bootstrappers", "system:authenticated"]
    assert "uid" not in obj["spec"]
    assert "extra" not in obj["spec"]
    assert obj["status"] == {}


def stored() -> dict[str, Any]:
    obj = new_csr()
    prepare_for_create(obj, NODE)
    obj["metadata"]["resourceVersion"] = "3"
    return obj


def test_main_resource_keeps_spec_and_status() -> None:
    old = stored()
    new = copy.deepcopy(old)
    new["metadata"]["labels"] = {"a": "b"}
    new["spec"]["username"] = "mallory"
    new["status"] = {"conditions": [cond("Approved")]}
    out = prepare_for_update("", new, old, now=T1)
    assert out["metadata"]["labels"] == {"a": "b"}
    assert out["spec"] == old["spec"]
    assert out["status"] == old["status"]


def test_status_keeps_approval_conditions_as_stored() -> None:
    old = stored()
    approved = cond("Approved", reason="A", lastUpdateTime=T0, lastTransitionTime=T0)
    old["status"] = {"conditions": [approved]}
    new = copy.deepcopy(old)
    new["spec"]["usages"] = ["server auth"]
    new["status"] = {
        "conditions": [cond("Approved", reason="Changed"), cond("Failed", reason="Oops")],
        "certificate": CERT,
    }
    out = prepare_for_update("status", new, old, now=T1)
    assert out["spec"] == old["spec"]
    assert out["status"]["certificate"] == CERT
    assert out["status"]["conditions"] == [
        approved,
        cond("Failed", reason="Oops", lastUpdateTime=T1, lastTransitionTime=T1),
    ]


def test_approval_keeps_certificate_as_stored() -> None:
    old = stored()
    new = copy.deepcopy(old)
    new["status"] = {"conditions": [cond("Approved")], "certificate": CERT}
    out = prepare_for_update("approval", new, old, now=T1)
    assert out["status"] == {
        "conditions": [cond("Approved", lastUpdateTime=T1, lastTransitionTime=T1)]
    }


@pytest.mark.parametrize(
    ("old", "new", "expected"),
    [
        ([], [cond("Approved")], [cond("Approved", lastUpdateTime=T1, lastTransitionTime=T1)]),
        (
            [cond("Failed", lastTransitionTime=T0)],
            [cond("Failed")],
            [cond("Failed", lastUpdateTime=T1, lastTransitionTime=T0)],
        ),
        (
            [{"type": "X", "status": "False", "lastTransitionTime": T0}],
            [cond("X")],
            [cond("X", lastUpdateTime=T1, lastTransitionTime=T1)],
        ),
        (
            [],
            [cond("Approved", lastUpdateTime=T0, lastTransitionTime=T0)],
            [cond("Approved", lastUpdateTime=T0, lastTransitionTime=T0)],
        ),
    ],
)
def test_condition_timestamps(
    old: list[dict[str, Any]], new: list[dict[str, Any]], expected: list[dict[str, Any]]
) -> None:
    new_obj = {"status": {"conditions": new}}
    stamp_conditions(new_obj, {"status": {"conditions": old}}, T1)
    assert new_obj["status"]["conditions"] == expected


# -- the registry over the in-memory datastore ------------------------------------------------
@pytest.fixture
async def csrs() -> ResourceRegistry:
    backend = MemoryBackend()
    await backend.start()
    registry = CSRRegistry(info=CSRS, storage=KVStorage(backend))
    token = REQUEST_USER.set(NODE)
    try:
        await registry.create("", new_csr())
    finally:
        REQUEST_USER.reset(token)
    return registry


async def _write(registry: ResourceRegistry, status: dict[str, Any]) -> dict[str, Any]:
    async def mutate(current: dict[str, Any]) -> dict[str, Any]:
        current["status"] = copy.deepcopy(status)
        return current

    return await registry.update("", "node-csr-Ab_9", mutate, dry_run=False)


async def test_registry_create_update_paths(csrs: ResourceRegistry) -> None:
    created = await csrs.get("", "node-csr-Ab_9")
    assert created["spec"]["username"] == NODE.user
    assert created["status"] == {}

    with pytest.raises(StatusError) as caught:
        await _write(csrs.for_subresource("status"), {"conditions": [cond("Approved")]})
    assert caught.value.code == 422
    assert 'updates may not add a condition of type "Approved"' in caught.value.status["message"]

    with pytest.raises(StatusError) as caught:
        await _write(
            csrs.for_subresource("approval"), {"conditions": [cond("Approved"), cond("Denied")]}
        )
    assert "Approved and Denied conditions are mutually exclusive" in str(caught.value.status)

    approved = await _write(csrs.for_subresource("approval"), {"conditions": [cond("Approved")]})
    assert approved["status"]["conditions"][0]["lastUpdateTime"]

    issued = await _write(
        csrs.for_subresource("status"),
        {"conditions": approved["status"]["conditions"], "certificate": CERT},
    )
    assert issued["status"]["certificate"] == CERT

    # the main resource changes nothing but metadata; the approval path keeps the certificate
    unchanged = await _write(csrs, {})
    assert unchanged["status"] == issued["status"]
    kept = await _write(
        csrs.for_subresource("approval"), {"conditions": issued["status"]["conditions"]}
    )
    assert kept["status"]["certificate"] == CERT

    with pytest.raises(StatusError) as caught:
        await _write(csrs.for_subresource("approval"), {})
    assert 'updates may not remove a condition of type "Approved"' in str(caught.value.status)


async def test_registry_refuses_a_bad_request(csrs: ResourceRegistry) -> None:
    obj = new_csr("bad")
    obj["spec"]["request"] = b64(b"nope")
    with pytest.raises(StatusError) as caught:
        await csrs.create("", obj)
    assert caught.value.code == 422
    assert caught.value.status["message"].startswith(
        'CertificateSigningRequest.certificates.k8s.io "bad" is invalid: spec.request: '
        "Invalid value: []byte{0x6e, 0x6f, 0x70, 0x65}: PEM block type must be CERTIFICATE "
        "REQUEST"
    )
    with pytest.raises(StatusError) as caught:
        await csrs.create("", new_csr("a/b"))
    assert "may not contain '/'" in caught.value.status["message"]


# -- the Table ----------------------------------------------------------------------------------
def test_table_columns_and_cells() -> None:
    names = [c["name"] for c in column_definitions("CertificateSigningRequest")]
    assert names == ["Name", "Age", "SignerName", "Requestor", "RequestedDuration", "Condition"]
    now = datetime(2024, 1, 1, 0, 5, tzinfo=UTC)
    obj = stored()
    obj["metadata"]["creationTimestamp"] = (now - timedelta(seconds=42)).strftime(
        "%Y-%m-%dT%H:%M:%SZ"
    )
    obj["spec"]["expirationSeconds"] = 86400
    obj["status"] = {"conditions": [cond("Approved")], "certificate": CERT}
    table = to_table("CertificateSigningRequest", [obj], list_meta={}, now=now)
    assert table["rows"][0]["cells"] == [
        "node-csr-Ab_9",
        "42s",
        "kubernetes.io/kube-apiserver-client-kubelet",
        "system:bootstrap:abcdef",
        "24h",
        "Approved,Issued",
    ]
    pending = {"metadata": {"name": "x"}, "spec": {}}
    cells = to_table("CertificateSigningRequest", [pending], list_meta={}, now=now)["rows"][0]
    assert cells["cells"][2:] == ["<none>", "", "<none>", "Pending"]


# -- protobuf (kubectl certificate approve) -------------------------------------------------
def test_protobuf_body_of_an_approval() -> None:
    pem = csr_pem()
    raw = envelope(
        "certificates.k8s.io/v1",
        "CertificateSigningRequest",
        msg(1, ld(1, "node-csr-1"), ld(6, "7")),
        msg(
            2,
            ld(1, pem),
            ld(2, "system:bootstrap:abcdef"),
            ld(4, "system:bootstrappers"),
            ld(5, "client auth"),
            ld(7, "kubernetes.io/kube-apiserver-client-kubelet"),
            num(8, 3600),
        ),
        msg(
            3,
            msg(1, ld(1, "Approved"), ld(2, "KubectlApprove"), ld(3, "ok"), ld(6, "True")),
        ),
    )
    obj = decode_kubernetes_protobuf(raw)
    assert obj["spec"] == {
        "request": base64.b64encode(pem).decode(),
        "username": "system:bootstrap:abcdef",
        "groups": ["system:bootstrappers"],
        "usages": ["client auth"],
        "signerName": "kubernetes.io/kube-apiserver-client-kubelet",
        "expirationSeconds": 3600,
    }
    assert obj["status"] == {
        "conditions": [
            {"type": "Approved", "status": "True", "reason": "KubectlApprove", "message": "ok"}
        ]
    }
