"""csrapproving: the CSRs it recognises, the SubjectAccessReview it asks, the approval it writes."""

from __future__ import annotations

from typing import Any

import pytest

from pocketkube.client.resources import CERTIFICATE_SIGNING_REQUESTS
from pocketkube.client.rest import ApiError
from pocketkube.controllers.base import IgnorableError
from pocketkube.controllers.certificates.approver import CSRApprovingController
from tests.unit.controllers.fakes import FakeClient, approved, csr_obj, csr_pem, informer

SAR = "/apis/authorization.k8s.io/v1/subjectaccessreviews"
APPROVAL = "/apis/certificates.k8s.io/v1/certificatesigningrequests/node-csr-1/approval"
DENIED = {"type": "Denied", "status": "True", "reason": "No", "message": "no"}


def allow(*subresources: str) -> Any:
    def answer(review: dict[str, Any]) -> dict[str, Any]:
        sub = review["spec"]["resourceAttributes"]["subresource"]
        return {**review, "status": {"allowed": sub in subresources}}

    return answer


def controller(client: FakeClient, *csrs: dict[str, Any]) -> CSRApprovingController:
    return CSRApprovingController(
        client=client, csr_informer=informer(client, CERTIFICATE_SIGNING_REQUESTS, *csrs)
    )


@pytest.mark.parametrize(
    ("csr", "allowed", "asked", "message"),
    [
        # a bootstrap token asking for a new node's certificate
        (
            csr_obj(),
            ("nodeclient",),
            ["nodeclient"],
            "Auto approving kubelet client certificate after SubjectAccessReview.",
        ),
        # a node renewing its own: selfnodeclient first
        (
            csr_obj(username="system:node:n1"),
            ("selfnodeclient",),
            ["selfnodeclient"],
            "Auto approving self kubelet client certificate after SubjectAccessReview.",
        ),
        (
            csr_obj(username="system:node:n1"),
            ("nodeclient",),
            ["selfnodeclient", "nodeclient"],
            "Auto approving kubelet client certificate after SubjectAccessReview.",
        ),
        # RSA keys may add key encipherment
        (
            csr_obj(
                pem=csr_pem(rsa_key=True),
                usages=("digital signature", "key encipherment", "client auth"),
            ),
            ("nodeclient",),
            ["nodeclient"],
            "Auto approving kubelet client certificate after SubjectAccessReview.",
        ),
    ],
)
async def test_approves_recognised_requests_after_review(
    csr: dict[str, Any], allowed: tuple[str, ...], asked: list[str], message: str
) -> None:
    client = FakeClient(answers={("POST", SAR): allow(*allowed)})
    ctrl = controller(client, csr)
    await ctrl.sync("node-csr-1")
    reviews = [c.body for c in client.calls if c.path == SAR]
    assert [r["spec"]["resourceAttributes"]["subresource"] for r in reviews] == asked
    assert reviews[0]["spec"]["user"] == csr["spec"]["username"]
    assert reviews[0]["spec"]["groups"] == csr["spec"]["groups"]
    assert reviews[0]["spec"]["resourceAttributes"] == {
        "group": "certificates.k8s.io",
        "resource": "certificatesigningrequests",
        "verb": "create",
        "subresource": asked[0],
    }
    (update,) = [c for c in client.calls if c.verb == "PUT"]
    assert update.path == APPROVAL
    assert update.body["status"]["conditions"] == [
        {"type": "Approved", "status": "True", "reason": "AutoApproved", "message": message}
    ]
    # the informer's copy is untouched
    assert "conditions" not in ctrl._csrs.get("node-csr-1")["status"]  # type: ignore[index]


@pytest.mark.parametrize(
    "csr",
    [
        csr_obj(conditions=[approved()]),
        csr_obj(conditions=[DENIED]),
        csr_obj(certificate=b"-----BEGIN CERTIFICATE-----\n"),
        csr_obj(signer="kubernetes.io/kube-apiserver-client"),
        csr_obj(signer="example.com/custom"),
        csr_obj(usages=("digital signature", "client auth", "server auth")),
        csr_obj(pem=csr_pem(cn="jane", orgs=("devs",))),
    ],
    ids=["approved", "denied", "issued", "apiserver-client", "custom", "usages", "not-a-node"],
)
async def test_leaves_other_requests_alone(csr: dict[str, Any]) -> None:
    client = FakeClient()
    await controller(client, csr).sync("node-csr-1")
    assert client.calls == []


async def test_missing_csr_is_done() -> None:
    client = FakeClient()
    await controller(client).sync("gone")
    assert client.calls == []


async def test_review_refused_is_retried_quietly() -> None:
    client = FakeClient(answers={("POST", SAR): allow()})
    ctrl = controller(client, csr_obj())
    with pytest.raises(IgnorableError, match=r"recognized csr \"node-csr-1\" as \[nodeclient\]"):
        await ctrl.sync("node-csr-1")
    assert [c.verb for c in client.calls] == ["POST"]
    ctrl.queue.add("node-csr-1")
    key = ctrl.queue.get_nowait()
    await ctrl.process(key)
    assert ctrl.queue.waiting == 1  # requeued with backoff


async def test_unparseable_request_is_an_error() -> None:
    client = FakeClient()
    csr = csr_obj(pem=b"-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n")
    with pytest.raises(ValueError, match="PEM block type must be CERTIFICATE REQUEST"):
        await controller(client, csr).sync("node-csr-1")


async def test_conflict_on_approval_is_retried() -> None:
    client = FakeClient(
        answers={
            ("POST", SAR): allow("nodeclient"),
            ("PUT", APPROVAL): ApiError(409, "Conflict", "the object has been modified"),
        }
    )
    with pytest.raises(ApiError, match="error updating approval for csr"):
        await controller(client, csr_obj()).sync("node-csr-1")
