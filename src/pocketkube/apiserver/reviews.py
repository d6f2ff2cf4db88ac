"""The review APIs: create-only objects that ask the server a question and carry the answer back.

authentication.k8s.io/v1 ``selfsubjectreviews`` (who am I: ``kubectl auth whoami``) and
``tokenreviews`` (whose is this token: webhooks and aggregated servers ask it);
authorization.k8s.io/v1 ``selfsubjectaccessreviews`` (``kubectl auth can-i``),
``selfsubjectrulesreviews`` (``can-i --list``), ``subjectaccessreviews`` and
``localsubjectaccessreviews`` (may someone else do it). Nothing is stored: the reply is the
request with ``status`` filled in, 201 as for any create. Every decision goes through
:func:`authorize` and :func:`rules`, the one seam an authorizer (RBAC) replaces; until then the
server is AlwaysAllow, and answers what upstream's AlwaysAllow authorizer answers.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from aiohttp import web

from pocketkube.api import status
from pocketkube.api.status import StatusError
from pocketkube.api.validation import FieldError, invalid
from pocketkube.apiserver import extensions
from pocketkube.apiserver.authn import Unauthenticated
from pocketkube.apiserver.authn.bearer import TokenAuthenticator, authenticate_token
from pocketkube.apiserver.extensions import SpecialHandler, SpecialRequest
from pocketkube.apiserver.identity import Identity
from pocketkube.apiserver.specialbody import read_object, reply

AUTHN = "authentication.k8s.io"
AUTHZ = "authorization.k8s.io"


@dataclass(frozen=True)
class Attributes:
    """What a request would do (upstream's ``authorizer.Attributes`` less the user)."""

    verb: str
    resource_request: bool
    namespace: str = ""
    group: str = ""
    version: str = ""
    resource: str = ""
    subresource: str = ""
    name: str = ""
    path: str = ""

    @classmethod
    def from_spec(cls, spec: dict[str, Any]) -> Attributes:
        resource = spec.get("resourceAttributes")
        if isinstance(resource, dict):
            return cls(
                verb=str(resource.get("verb", "")),
                resource_request=True,
                namespace=str(resource.get("namespace", "")),
                group=str(resource.get("group", "")),
                version=str(resource.get("version", "")),
                resource=str(resource.get("resource", "")),
                subresource=str(resource.get("subresource", "")),
                name=str(resource.get("name", "")),
            )
        other = spec.get("nonResourceAttributes")
        other = other if isinstance(other, dict) else {}
        return cls(
            verb=str(other.get("verb", "")), resource_request=False, path=str(other.get("path", ""))
        )


def authorize(identity: Identity, attributes: Attributes) -> tuple[bool, str]:
    """(allowed, reason): AlwaysAllow, until RBAC replaces this function."""
    return True, ""


def rules(identity: Identity, namespace: str) -> dict[str, Any]:
    """A SelfSubjectRulesReview status: what ``identity`` may do in ``namespace``."""
    return {
        "resourceRules": [{"verbs": ["*"], "apiGroups": ["*"], "resources": ["*"]}],
        "nonResourceRules": [{"verbs": ["*"], "nonResourceURLs": ["*"]}],
        "incomplete": False,
    }


def user_info(identity: Identity) -> dict[str, Any]:
    return {"username": identity.user, "groups": list(identity.groups)}


def install(*, token_authenticators: Sequence[TokenAuthenticator]) -> None:
    """Register the review resources' handlers in :data:`extensions.VIRTUAL`."""
    handlers: dict[tuple[str, str, str], SpecialHandler] = {
        (AUTHN, "v1", "selfsubjectreviews"): _self_subject_review,
        (AUTHN, "v1", "tokenreviews"): _token_review(token_authenticators),
        (AUTHZ, "v1", "selfsubjectaccessreviews"): _self_subject_access_review,
        (AUTHZ, "v1", "selfsubjectrulesreviews"): _self_subject_rules_review,
        (AUTHZ, "v1", "subjectaccessreviews"): _subject_access_review,
        (AUTHZ, "v1", "localsubjectaccessreviews"): _local_subject_access_review,
    }
    extensions.VIRTUAL.update(handlers)


async def _read(special: SpecialRequest) -> dict[str, Any]:
    resource = special.resource
    obj = await read_object(
        special, api_version=f"{resource.group}/{resource.version}", kind=resource.kind
    )
    if not isinstance(obj.get("spec"), dict):
        obj["spec"] = {}
    return obj


async def _self_subject_review(special: SpecialRequest) -> web.StreamResponse:
    review = await _read(special)
    review.pop("spec", None)
    review["status"] = {"userInfo": user_info(special.user)}
    return reply(review)


def _token_review(authenticators: Sequence[TokenAuthenticator]) -> SpecialHandler:
    async def handle(special: SpecialRequest) -> web.StreamResponse:
        review = await _read(special)
        spec = review["spec"]
        if review["metadata"].get("namespace"):
            raise StatusError(
                status.bad_request(
                    f"namespace is not allowed on this type: {review['metadata']['namespace']}"
                )
            )
        token = spec.get("token")
        if not isinstance(token, str) or not token:
            raise StatusError(
                status.bad_request("token is required for TokenReview in authentication")
            )
        wanted = [a for a in spec.get("audiences") or [] if isinstance(a, str)]
        answer: dict[str, Any] = {"user": {}}
        try:
            result = await authenticate_token(authenticators, token, audiences=wanted)
        except Unauthenticated as err:
            answer["error"] = str(err)
        else:
            answer["authenticated"] = True
            answer["user"] = user_info(result.identity)
            if result.audiences:
                answer["audiences"] = list(result.audiences)
        review["status"] = answer
        return reply(review)

    return handle


def _access_errors(spec: dict[str, Any]) -> list[FieldError]:
    has_resource = isinstance(spec.get("resourceAttributes"), dict)
    has_other = isinstance(spec.get("nonResourceAttributes"), dict)
    if has_resource and has_other:
        return [
            invalid(
                "spec.nonResourceAttributes",
                spec["nonResourceAttributes"],
                "cannot be specified in combination with resourceAttributes",
            )
        ]
    if not has_resource and not has_other:
        return [
            invalid(
                "spec.resourceAttributes",
                None,
                "exactly one of nonResourceAttributes or resourceAttributes must be specified",
            )
        ]
    return []


def _decide(special: SpecialRequest, review: dict[str, Any], identity: Identity) -> web.Response:
    allowed, reason = authorize(identity, Attributes.from_spec(review["spec"]))
    answer: dict[str, Any] = {"allowed": allowed}
    if reason:
        answer["reason"] = reason
    review["status"] = answer
    return reply(review)


def _refuse(special: SpecialRequest, review: dict[str, Any], errors: list[FieldError]) -> None:
    if errors:
        name = str(review["metadata"].get("name", ""))
        resource = special.resource
        raise StatusError(status.invalid(resource.kind, name, errors, resource.group))


async def _self_subject_access_review(special: SpecialRequest) -> web.StreamResponse:
    review = await _read(special)
    _refuse(special, review, _access_errors(review["spec"]))
    return _decide(special, review, special.user)


def _subject(spec: dict[str, Any]) -> tuple[Identity, list[FieldError]]:
    user = spec.get("user") if isinstance(spec.get("user"), str) else ""
    groups = [g for g in spec.get("groups") or [] if isinstance(g, str)]
    errors = []
    if not user and not groups:
        errors.append(invalid("spec.user", user, "at least one of user or group must be specified"))
    return Identity(str(user), tuple(groups)), errors


async def _subject_access_review(special: SpecialRequest) -> web.StreamResponse:
    review = await _read(special)
    subject, errors = _subject(review["spec"])
    _refuse(special, review, _access_errors(review["spec"]) + errors)
    return _decide(special, review, subject)


async def _local_subject_access_review(special: SpecialRequest) -> web.StreamResponse:
    review = await _read(special)
    namespace = special.info.namespace
    spec = review["spec"]
    if not namespace:
        raise StatusError(status.bad_request("namespace is required on this type: "))
    attributes = spec.get("resourceAttributes")
    if isinstance(attributes, dict) and attributes.get("namespace", "") != namespace:
        raise StatusError(
            status.bad_request(
                f"spec.resourceAttributes.namespace must match namespace: {namespace}"
            )
        )
    subject, errors = _subject(spec)
    errors = _access_errors(spec) + errors
    if isinstance(spec.get("nonResourceAttributes"), dict):
        errors.append(
            invalid(
                "spec.nonResourceAttributes",
                spec["nonResourceAttributes"],
                "disallowed on this kind of request",
            )
        )
    _refuse(special, review, errors)
    review["metadata"]["namespace"] = namespace
    return _decide(special, review, subject)


async def _self_subject_rules_review(special: SpecialRequest) -> web.StreamResponse:
    review = await _read(special)
    namespace = review["spec"].get("namespace")
    if not isinstance(namespace, str) or not namespace:
        raise StatusError(status.bad_request("no namespace on request"))
    review["status"] = rules(special.user, namespace)
    return reply(review)
