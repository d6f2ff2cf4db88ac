"""csrapproving: approves kubelet client certificate requests that RBAC says may be approved.

Upstream's ``sarapprove.go``. A pending CSR (no certificate, neither Approved nor Denied) for
the ``kubernetes.io/kube-apiserver-client-kubelet`` signer whose request is a kubelet client
certificate (O=system:nodes, CN=system:node:<name>, no SANs, client usages) is *recognised*;
the controller then asks the API server, with a SubjectAccessReview for the CSR's requester,
whether that user may ``create certificatesigningrequests/selfnodeclient`` (a node renewing its
own certificate: CN == the requester) or ``.../nodeclient`` (a bootstrap token asking for a
new node's first certificate). If so it adds ``Approved`` (reason ``AutoApproved``) through
``/approval``; the csrsigning controller then issues the certificate. A recognised request
that no review allows is retried with backoff (permissions may be granted later); anything
else is left to other approvers or a human (``kubectl certificate approve``).

A pocketkube addition (upstream leaves kubelet-serving CSRs to a human or a third-party
approver; k3s signs its kubelets' serving certificates itself): a pending
``kubernetes.io/kubelet-serving`` CSR is approved (reason ``AutoApproved``) when it is a valid
kubelet serving request (``requests.validate_kubelet_serving``), its requester is the node it
names (username == CN ``system:node:<n>``) and every DNS and IP SAN is among that Node object's
``status.addresses`` (or its name); a Node not registered yet is waited for.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from cryptography import x509

from pocketkube.api import certificates as csrs
from pocketkube.client.clock import Clock
from pocketkube.client.informer import Informer
from pocketkube.client.resources import (
    CERTIFICATE_SIGNING_REQUESTS,
    NODES,
    SUBJECT_ACCESS_REVIEWS,
)
from pocketkube.client.rest import ApiError
from pocketkube.controllers.base import ApiClient, Controller, IgnorableError
from pocketkube.controllers.certificates import requests

NAME = "csrapproving"
REASON = "AutoApproved"
SERVING_MESSAGE = "Auto approving kubelet serving certificate: the node's own addresses."


@dataclass(frozen=True)
class Recognizer:
    recognize: Callable[[dict[str, Any], x509.CertificateSigningRequest], bool]
    subresource: str
    message: str


def is_node_client_cert(csr: dict[str, Any], request: x509.CertificateSigningRequest) -> bool:
    if requests.spec(csr).get("signerName") != csrs.KUBE_APISERVER_CLIENT_KUBELET_SIGNER:
        return False
    return requests.is_kubelet_client(request, requests.usages_of(csr))


def is_self_node_client_cert(csr: dict[str, Any], request: x509.CertificateSigningRequest) -> bool:
    if requests.spec(csr).get("username") != requests.common_name(request):
        return False
    return is_node_client_cert(csr, request)


RECOGNIZERS = (
    Recognizer(
        is_self_node_client_cert,
        "selfnodeclient",
        "Auto approving self kubelet client certificate after SubjectAccessReview.",
    ),
    Recognizer(
        is_node_client_cert,
        "nodeclient",
        "Auto approving kubelet client certificate after SubjectAccessReview.",
    ),
)


class CSRApprovingController(Controller):
    name = NAME

    def __init__(
        self,
        *,
        client: ApiClient,
        csr_informer: Informer,
        workers: int = 5,
        clock: Clock | None = None,
    ) -> None:
        super().__init__(informers=[csr_informer], workers=workers, clock=clock)
        self._client = client
        self._csrs = csr_informer.store
        csr_informer.add_handler(
            on_add=self.enqueue, on_update=self.enqueue_update, on_delete=self.enqueue
        )

    async def sync(self, key: str) -> None:
        found = self._csrs.get(key)
        if found is None or csrs.certificate_of(found):
            return
        if csrs.has_condition(found, csrs.APPROVED) or csrs.has_condition(found, csrs.DENIED):
            return
        csr = copy.deepcopy(found)
        try:
            request = requests.request_of(csr)
        except ValueError as err:
            raise ValueError(f'unable to parse csr "{key}": {err}') from None
        if requests.spec(csr).get("signerName") == csrs.KUBELET_SERVING_SIGNER:
            if await self._serving_allowed(key, csr, request):
                await self._approve(csr, SERVING_MESSAGE)
            return
        tried = []
        for recognizer in RECOGNIZERS:
            if not recognizer.recognize(csr, request):
                continue
            tried.append(recognizer.subresource)
            if await self._authorized(csr, recognizer.subresource):
                await self._approve(csr, recognizer.message)
                return
        if tried:
            raise IgnorableError(
                f'recognized csr "{key}" as [{" ".join(tried)}] '
                "but subject access review was not approved"
            )

    async def _serving_allowed(
        self, key: str, csr: dict[str, Any], request: x509.CertificateSigningRequest
    ) -> bool:
        """A node's own serving certificate for addresses its Node object reports."""
        try:
            requests.validate_kubelet_serving(request, requests.usages_of(csr))
        except requests.RequestError:
            return False
        cn = requests.common_name(request)
        if requests.spec(csr).get("username") != cn:
            return False
        node_name = cn.removeprefix(requests.NODE_USER_PREFIX)
        try:
            node = await self._client.get(NODES.path(name=node_name))
        except ApiError as err:
            if err.status == 404:
                raise IgnorableError(
                    f'csr "{key}": node {node_name!r} is not registered yet'
                ) from err
            raise
        known = {node_name.lower()}
        for address in (node.get("status") or {}).get("addresses") or []:
            known.add(str(address.get("address", "")).lower())
        sans = requests.subject_alt_names(request)
        if not sans or any(name.lower() not in known for name in sans):
            raise IgnorableError(
                f'csr "{key}": subjectAltNames {sorted(sans)} are not all addresses of node '
                f"{node_name!r} {sorted(known)}"
            )
        return True

    async def _authorized(self, csr: dict[str, Any], subresource: str) -> bool:
        spec = requests.spec(csr)
        review = {
            "apiVersion": "authorization.k8s.io/v1",
            "kind": "SubjectAccessReview",
            "spec": {
                "user": spec.get("username", ""),
                "uid": spec.get("uid", ""),
                "groups": spec.get("groups") or [],
                "extra": spec.get("extra") or {},
                "resourceAttributes": {
                    "group": csrs.GROUP,
                    "resource": "certificatesigningrequests",
                    "verb": "create",
                    "subresource": subresource,
                },
            },
        }
        answer = await self._client.create(SUBJECT_ACCESS_REVIEWS.path(), review)
        return bool((answer.get("status") or {}).get("allowed"))

    async def _approve(self, csr: dict[str, Any], message: str) -> None:
        status = csr.setdefault("status", {})
        status.setdefault("conditions", []).append(
            {"type": csrs.APPROVED, "status": "True", "reason": REASON, "message": message}
        )
        name = csr["metadata"]["name"]
        try:
            await self._client.update(
                CERTIFICATE_SIGNING_REQUESTS.path(name=name, subresource="approval"), csr
            )
        except ApiError as err:
            raise ApiError(
                err.status, err.reason, f"error updating approval for csr: {err.message}", err.body
            ) from err
