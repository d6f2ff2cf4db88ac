"""What the certificate controllers check in a CSR: upstream's per-signer request rules.

These are ``pkg/apis/certificates/helpers.go`` (kubelet client and serving requests) and the
csrsigning controller's client-usage check, with upstream's error messages: a CSR the signer
refuses gets them as its ``Failed`` condition's message. Usages are compared as sets, and the
"did not match" message lists the RSA form sorted, as Go's ``sets.String.List`` does.
"""

from __future__ import annotations

from collections.abc import Iterable

from cryptography import x509
from cryptography.x509.oid import ExtensionOID, NameOID

from pocketkube.api import certificates as csrs

DIGITAL_SIGNATURE = "digital signature"
KEY_ENCIPHERMENT = "key encipherment"
CLIENT_AUTH = "client auth"
SERVER_AUTH = "server auth"

NODES_GROUP = "system:nodes"
NODE_USER_PREFIX = "system:node:"

_KUBELET_CLIENT = frozenset({DIGITAL_SIGNATURE, KEY_ENCIPHERMENT, CLIENT_AUTH})
_KUBELET_CLIENT_NO_RSA = frozenset({DIGITAL_SIGNATURE, CLIENT_AUTH})
_KUBELET_SERVING = frozenset({DIGITAL_SIGNATURE, KEY_ENCIPHERMENT, SERVER_AUTH})
_KUBELET_SERVING_NO_RSA = frozenset({DIGITAL_SIGNATURE, SERVER_AUTH})


class RequestError(ValueError):
    """The request is not one this signer issues; the message is upstream's."""


def _attributes(name: x509.Name, oid: x509.ObjectIdentifier) -> list[str]:
    return [str(attr.value) for attr in name.get_attributes_for_oid(oid)]


def common_name(request: x509.CertificateSigningRequest) -> str:
    names = _attributes(request.subject, NameOID.COMMON_NAME)
    return names[0] if names else ""


def _sans(request: x509.CertificateSigningRequest) -> x509.SubjectAlternativeName | None:
    try:
        ext = request.extensions.get_extension_for_oid(ExtensionOID.SUBJECT_ALTERNATIVE_NAME)
    except x509.ExtensionNotFound:
        return None
    value = ext.value
    return value if isinstance(value, x509.SubjectAlternativeName) else None


def subject_alt_names(request: x509.CertificateSigningRequest) -> list[str]:
    """The request's DNS names and IP addresses (as text)."""
    sans = _sans(request)
    if sans is None:
        return []
    names = [str(n) for n in sans.get_values_for_type(x509.DNSName)]
    names += [str(ip) for ip in sans.get_values_for_type(x509.IPAddress)]
    return names


def _san_kinds(request: x509.CertificateSigningRequest) -> set[type[x509.GeneralName]]:
    sans = _sans(request)
    return {type(name) for name in sans} if sans is not None else set()


def _usages_did_not_match(required: frozenset[str]) -> RequestError:
    return RequestError(f"usages did not match [{' '.join(sorted(required))}]")


def validate_kubelet_client(request: x509.CertificateSigningRequest, usages: Iterable[str]) -> None:
    """Upstream's ``ValidateKubeletClientCSR``: O=system:nodes only, no SANs, CN system:node:*,
    usages exactly {digital signature, client auth} plus optionally key encipherment."""
    if _attributes(request.subject, NameOID.ORGANIZATION_NAME) != [NODES_GROUP]:
        raise RequestError("subject organization is not system:nodes")
    kinds = _san_kinds(request)
    if x509.DNSName in kinds:
        raise RequestError("DNS subjectAltNames are not allowed")
    if x509.RFC822Name in kinds:
        raise RequestError("Email subjectAltNames are not allowed")
    if x509.IPAddress in kinds:
        raise RequestError("IP subjectAltNames are not allowed")
    if x509.UniformResourceIdentifier in kinds:
        raise RequestError("URI subjectAltNames are not allowed")
    if not common_name(request).startswith(NODE_USER_PREFIX):
        raise RequestError("subject common name does not begin with system:node:")
    found = frozenset(usages)
    if found not in (_KUBELET_CLIENT, _KUBELET_CLIENT_NO_RSA):
        raise _usages_did_not_match(_KUBELET_CLIENT)


def validate_kubelet_serving(
    request: x509.CertificateSigningRequest, usages: Iterable[str]
) -> None:
    """Upstream's ``ValidateKubeletServingCSR``: O=system:nodes only, a DNS or IP SAN, no email
    or URI SANs, server-auth usages, CN system:node:*."""
    if _attributes(request.subject, NameOID.ORGANIZATION_NAME) != [NODES_GROUP]:
        raise RequestError("subject organization is not system:nodes")
    kinds = _san_kinds(request)
    if x509.DNSName not in kinds and x509.IPAddress not in kinds:
        raise RequestError("DNS or IP subjectAltName is required")
    if x509.RFC822Name in kinds:
        raise RequestError("Email subjectAltNames are not allowed")
    if x509.UniformResourceIdentifier in kinds:
        raise RequestError("URI subjectAltNames are not allowed")
    found = frozenset(usages)
    if found not in (_KUBELET_SERVING, _KUBELET_SERVING_NO_RSA):
        raise _usages_did_not_match(_KUBELET_SERVING)
    if not common_name(request).startswith(NODE_USER_PREFIX):
        raise RequestError("subject common name does not begin with system:node:")


def validate_apiserver_client(
    request: x509.CertificateSigningRequest, usages: Iterable[str]
) -> None:
    """kube-apiserver-client: client auth required; digital signature, key encipherment allowed."""
    has_client_auth = False
    for usage in usages:
        if usage == CLIENT_AUTH:
            has_client_auth = True
        elif usage not in (DIGITAL_SIGNATURE, KEY_ENCIPHERMENT):
            raise RequestError(f"invalid usage for client certificate: {usage}")
    if not has_client_auth:
        raise RequestError(f"missing required usage for client certificate: {CLIENT_AUTH}")


# The signers this controller manager issues for, with the check each applies.
VALIDATORS = {
    csrs.KUBE_APISERVER_CLIENT_SIGNER: validate_apiserver_client,
    csrs.KUBE_APISERVER_CLIENT_KUBELET_SIGNER: validate_kubelet_client,
    csrs.KUBELET_SERVING_SIGNER: validate_kubelet_serving,
}


def is_kubelet_client(request: x509.CertificateSigningRequest, usages: Iterable[str]) -> bool:
    try:
        validate_kubelet_client(request, usages)
    except RequestError:
        return False
    return True


def spec(csr: csrs.Obj) -> dict[str, object]:
    value = csr.get("spec")
    return dict(value) if isinstance(value, dict) else {}


def usages_of(csr: csrs.Obj) -> list[str]:
    usages = spec(csr).get("usages")
    return [str(u) for u in usages] if isinstance(usages, list) else []


def request_of(csr: csrs.Obj) -> x509.CertificateSigningRequest:
    """The parsed ``spec.request``; ValueError (upstream's message) when it is not one."""
    return csrs.parse_csr(csrs.decode_bytes(spec(csr).get("request")))


def has_true_condition(csr: csrs.Obj, condition_type: str) -> bool:
    return any(c.get("status") == "True" for c in csrs.find_conditions(csr, condition_type))
