"""csrsigning: issues certificates for approved CSRs of the ``kubernetes.io`` signers.

Upstream's ``signer.go`` (one controller per signer there; one here serving the three signers
this cluster's CA issues for: ``kube-apiserver-client``, ``kube-apiserver-client-kubelet`` and
``kubelet-serving``). A CSR that is approved (and not denied), has not failed and has no
certificate yet is checked against its signer's rules (``requests``); one that breaks them gets
a ``Failed`` condition with reason ``SignerValidationFailure`` and the rule's message, one that
passes gets a certificate from the cluster CA (``authority``), written to ``status.certificate``
through ``/status``. The lifetime is ``spec.expirationSeconds`` when given (at least 10
minutes, at most the configured duration), else ``--cluster-signing-duration``, and never past
the CA's own expiry. CSRs for other signers are left alone for their own signers.
"""

from __future__ import annotations

import copy
import datetime as dt
from collections.abc import Callable
from typing import Any

from cryptography.hazmat.primitives import serialization

from pocketkube.api import certificates as csrs
from pocketkube.client.clock import Clock
from pocketkube.client.informer import Informer
from pocketkube.client.resources import CERTIFICATE_SIGNING_REQUESTS
from pocketkube.client.rest import ApiError
from pocketkube.controllers.base import ApiClient, Controller
from pocketkube.controllers.certificates import requests
from pocketkube.controllers.certificates.authority import FileCA

NAME = "csrsigning"
DEFAULT_DURATION = dt.timedelta(hours=8760)
MIN_DURATION = dt.timedelta(minutes=10)  # twice the backdate
FAILURE_REASON = "SignerValidationFailure"


def certificate_duration(
    expiration_seconds: object, default: dt.timedelta = DEFAULT_DURATION
) -> dt.timedelta:
    """The lifetime to issue: the requested one within [10 min, ``default``]."""
    if not isinstance(expiration_seconds, int) or isinstance(expiration_seconds, bool):
        return default
    requested = dt.timedelta(seconds=expiration_seconds)
    if requested > default:
        return default
    return max(requested, MIN_DURATION)


def _utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


class CSRSigningController(Controller):
    name = NAME

    def __init__(
        self,
        *,
        client: ApiClient,
        csr_informer: Informer,
        ca: FileCA,
        duration: dt.timedelta = DEFAULT_DURATION,
        workers: int = 5,
        clock: Clock | None = None,
        now: Callable[[], dt.datetime] = _utcnow,
    ) -> None:
        super().__init__(informers=[csr_informer], workers=workers, clock=clock)
        self._client = client
        self._csrs = csr_informer.store
        self._ca = ca
        self._duration = duration
        self._now = now
        csr_informer.add_handler(
            on_add=self.enqueue, on_update=self.enqueue_update, on_delete=self.enqueue
        )

    async def sync(self, key: str) -> None:
        found = self._csrs.get(key)
        if found is None or csrs.certificate_of(found):
            return
        if not csrs.is_approved(found) or requests.has_true_condition(found, csrs.FAILED):
            return
        spec = requests.spec(found)
        validate = requests.VALIDATORS.get(str(spec.get("signerName", "")))
        if validate is None:
            return  # another signer's request
        csr = copy.deepcopy(found)
        try:
            request = requests.request_of(csr)
        except ValueError as err:
            raise ValueError(f'unable to parse csr "{key}": {err}') from None
        usages = requests.usages_of(csr)
        try:
            validate(request, usages)
        except requests.RequestError as err:
            await self._fail(csr, str(err))
            return
        ttl = certificate_duration(spec.get("expirationSeconds"), self._duration)
        certificate = self._ca.current().sign(request, usages=usages, ttl=ttl, now=self._now())
        pem = certificate.public_bytes(serialization.Encoding.PEM)
        csr.setdefault("status", {})["certificate"] = csrs.encode_bytes(pem)
        await self._update_status(csr, "error updating signature for csr")

    async def _fail(self, csr: dict[str, Any], message: str) -> None:
        now = self._now().strftime("%Y-%m-%dT%H:%M:%SZ")
        csr.setdefault("status", {}).setdefault("conditions", []).append(
            {
                "type": csrs.FAILED,
                "status": "True",
                "reason": FAILURE_REASON,
                "message": message,
                "lastUpdateTime": now,
            }
        )
        await self._update_status(csr, "error adding failure condition for csr")

    async def _update_status(self, csr: dict[str, Any], context: str) -> None:
        name = csr["metadata"]["name"]
        try:
            await self._client.update(
                CERTIFICATE_SIGNING_REQUESTS.path(name=name, subresource="status"), csr
            )
        except ApiError as err:
            raise ApiError(err.status, err.reason, f"{context}: {err.message}", err.body) from err
