"""``serviceaccounts/<name>/token``: the TokenRequest API (``kubectl create token``).

A POST of an authentication.k8s.io/v1 TokenRequest returns it with ``status.token`` (a signed
service-account JWT) and ``status.expirationTimestamp``. Nothing is stored: the token stays valid
while the service account — and the Pod or Secret it is bound to, if any — exists with the same
uid. As upstream: audiences default to the API server's, ``expirationSeconds`` to one hour and is
at least ten minutes, and the expiration returned is never later than the token's ``exp``.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from aiohttp import web

from pocketkube.api import status
from pocketkube.api.status import StatusError
from pocketkube.api.validation import FieldError, invalid
from pocketkube.apiserver.authn.serviceaccounts import BoundObject, Lookup, ServiceAccountTokens
from pocketkube.apiserver.extensions import SpecialHandler, SpecialRequest
from pocketkube.apiserver.objectmeta import rfc3339
from pocketkube.apiserver.specialbody import read_object, reply

GROUP = "authentication.k8s.io"
API_VERSION = f"{GROUP}/v1"
KIND = "TokenRequest"
DEFAULT_EXPIRATION_SECONDS = 3600
MIN_EXPIRATION_SECONDS = 10 * 60
MAX_EXPIRATION_SECONDS = 1 << 32
BINDABLE = {"Pod": "pods", "Secret": "secrets"}


def token_subresource(*, tokens: ServiceAccountTokens, lookup: Lookup) -> SpecialHandler:
    async def handle(special: SpecialRequest) -> web.StreamResponse:
        info = special.info
        if info.verb != "create" or special.registry is None:
            raise StatusError(status.method_not_supported("serviceaccounts/token", info.verb))
        namespace, name = info.namespace, info.name
        request = await read_object(special, api_version=API_VERSION, kind=KIND)
        meta: dict[str, Any] = request["metadata"]
        spec = request.get("spec") if isinstance(request.get("spec"), dict) else {}
        assert isinstance(spec, dict)
        request["spec"] = spec
        for field in [f for f, value in spec.items() if value is None]:
            del spec[field]  # a protobuf body's absent message
        spec.setdefault("expirationSeconds", DEFAULT_EXPIRATION_SECONDS)
        _validate(name, namespace, meta, spec)
        account = await special.registry.get(namespace, name)
        bound = await _bound_object(name, namespace, spec.get("boundObjectRef"), lookup)
        if not spec.get("audiences"):
            spec["audiences"] = list(tokens.api_audiences)
        meta.setdefault("name", name)
        meta.setdefault("namespace", namespace)
        meta["creationTimestamp"] = rfc3339(datetime.now(UTC))
        token, expires = tokens.issue(
            namespace=namespace,
            name=name,
            uid=account["metadata"]["uid"],
            audiences=spec["audiences"],
            expiration_seconds=spec["expirationSeconds"],
            bound=bound,
        )
        request["status"] = {
            "token": token,
            "expirationTimestamp": rfc3339(datetime.fromtimestamp(expires, UTC)),
        }
        return reply(request)

    return handle


def _validate(name: str, namespace: str, meta: dict[str, Any], spec: dict[str, Any]) -> None:
    errors: list[FieldError] = []
    if meta.get("name") and meta["name"] != name:
        errors.append(
            invalid(
                "metadata.name", meta["name"], "must match the service account name if specified"
            )
        )
    if meta.get("namespace") and meta["namespace"] != namespace:
        errors.append(
            invalid(
                "metadata.namespace",
                meta["namespace"],
                "must match the service account namespace if specified",
            )
        )
    seconds = spec["expirationSeconds"]
    if not isinstance(seconds, int) or isinstance(seconds, bool):
        errors.append(invalid("spec.expirationSeconds", seconds, "must be an integer"))
    elif seconds < MIN_EXPIRATION_SECONDS:
        errors.append(
            invalid(
                "spec.expirationSeconds", seconds, "may not specify a duration less than 10 minutes"
            )
        )
    elif seconds > MAX_EXPIRATION_SECONDS:
        errors.append(
            invalid(
                "spec.expirationSeconds",
                seconds,
                "may not specify a duration larger than 2^32 seconds",
            )
        )
    audiences = spec.get("audiences")
    if audiences is not None and (
        not isinstance(audiences, list) or not all(isinstance(a, str) for a in audiences)
    ):
        errors.append(invalid("spec.audiences", audiences, "must be a list of strings"))
    if errors:
        raise StatusError(status.invalid(KIND, name, errors, GROUP))


async def _bound_object(
    name: str, namespace: str, ref: object, lookup: Lookup
) -> BoundObject | None:
    if not isinstance(ref, dict) or not ref:
        return None
    kind, api_version = str(ref.get("kind", "")), str(ref.get("apiVersion", ""))
    ref_name, ref_uid = str(ref.get("name", "")), str(ref.get("uid", ""))
    plural = BINDABLE.get(kind) if api_version == "v1" else None
    if plural is None:
        group, _, version = api_version.rpartition("/")
        raise StatusError(
            status.bad_request(
                f'cannot bind token for serviceaccount "{name}" to object of kind '
                f'"{group}/{version}, Kind={kind}"'
            )
        )
    found = await lookup(plural, namespace, ref_name)
    if found is None:
        raise StatusError(status.not_found(plural, ref_name))
    uid = str(found["metadata"].get("uid", ""))
    if ref_uid and ref_uid != uid:
        raise StatusError(
            status.conflict(
                kind,
                ref_name,
                f"the UID in the bound object reference ({ref_uid}) does not match the UID in "
                "record. The object might have been deleted and then recreated",
            )
        )
    return BoundObject(kind=kind, name=ref_name, uid=uid)
