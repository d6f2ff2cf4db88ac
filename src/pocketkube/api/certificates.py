"""CertificateSigningRequests (certificates.k8s.io/v1): the well-known signers, the request's PEM,
its conditions, and upstream's validation (pkg/apis/certificates/validation) with its messages.

A CSR asks a signer for a certificate. Whoever creates it is recorded in its spec by the API
server; an approver adds an ``Approved`` or ``Denied`` condition (through ``/approval``); the
signer then writes ``status.certificate`` or a ``Failed`` condition (through ``/status``). The
rules below keep those steps honest: Approved and Denied never together, none of the three
conditions taken back once added, a certificate never replaced, and each write path may only
change what is its to change. As upstream, an update tolerates problems the stored object
already had (so old data never becomes unwritable), but never introduces new ones.

``request`` and ``certificate`` are bytes in Go and base64 text in JSON; both hold PEM.
"""

from __future__ import annotations

import base64
import binascii
import dataclasses
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from cryptography import x509
from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm

from pocketkube.api.validation import (
    FieldError,
    duplicate,
    forbidden,
    format_value,
    invalid,
    is_dns1123_label,
    is_dns1123_subdomain,
    not_supported,
    required,
    too_long,
    type_invalid,
)

Obj = Mapping[str, Any]

GROUP = "certificates.k8s.io"
API_VERSION = "certificates.k8s.io/v1"
KIND = "CertificateSigningRequest"

KUBE_APISERVER_CLIENT_SIGNER = "kubernetes.io/kube-apiserver-client"
KUBE_APISERVER_CLIENT_KUBELET_SIGNER = "kubernetes.io/kube-apiserver-client-kubelet"
KUBELET_SERVING_SIGNER = "kubernetes.io/kubelet-serving"
LEGACY_UNKNOWN_SIGNER = "kubernetes.io/legacy-unknown"

APPROVED = "Approved"
DENIED = "Denied"
FAILED = "Failed"
# Conditions that only ever say "True", and that no update may take away.
FINAL_CONDITIONS = (APPROVED, DENIED, FAILED)
CONDITION_STATUSES = ("False", "True", "Unknown")

CERTIFICATE_REQUEST_BLOCK = "CERTIFICATE REQUEST"
CERTIFICATE_BLOCK = "CERTIFICATE"
MIN_EXPIRATION_SECONDS = 600

# x509 key usages and extended key usages a CSR may ask for (upstream's KeyUsage constants).
USAGES = (
    "signing",
    "digital signature",
    "content commitment",
    "key encipherment",
    "key agreement",
    "data encipherment",
    "cert sign",
    "crl sign",
    "encipher only",
    "decipher only",
    "any",
    "server auth",
    "client auth",
    "code signing",
    "email protection",
    "s/mime",
    "ipsec end system",
    "ipsec tunnel",
    "ipsec user",
    "timestamping",
    "ocsp signing",
    "microsoft sgc",
    "netscape sgc",
)
_SORTED_USAGES = tuple(sorted(USAGES))


# -- bytes fields and PEM ---------------------------------------------------------------------
def decode_bytes(value: Any) -> bytes:
    """A Go ``[]byte`` field as JSON carries it (base64); raises ValueError when it is not."""
    if value is None:
        return b""
    if not isinstance(value, str):
        raise ValueError("must be a base64-encoded string")
    try:
        return base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        raise ValueError("illegal base64 data") from None


def encode_bytes(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


class GoBytes:
    """A ``[]byte`` field's value as upstream shows it in a validation message (Go's ``%#v``:
    ``[]byte{0x2d, 0x2d}``, ``[]byte(nil)`` when missing)."""

    def __init__(self, value: Any) -> None:
        self.value = value

    def __repr__(self) -> str:
        if self.value is None:
            return "[]byte(nil)"
        try:
            data = decode_bytes(self.value)
        except ValueError:
            return format_value(self.value)
        return "[]byte{" + ", ".join(f"0x{b:x}" for b in data) + "}"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, GoBytes) and other.value == self.value

    def __hash__(self) -> int:
        return hash(repr(self))


@dataclass(frozen=True, slots=True)
class PEMBlock:
    type: str
    headers: bool
    der: bytes


_PEM_BLOCK = re.compile(
    rb"-----BEGIN (?P<type>[^\r\n-]*)-----[ \t]*\r?\n(?P<body>.*?)-----END (?P=type)-----",
    re.DOTALL,
)


def pem_blocks(data: bytes) -> list[PEMBlock]:
    """The PEM blocks in ``data``, in order, as Go's ``pem.Decode`` finds them one after
    another (text between blocks is skipped; a block whose body is not base64 ends the search)."""
    blocks = []
    for match in _PEM_BLOCK.finditer(data):
        body = match.group("body")
        headers = False
        lines = body.splitlines()
        if lines and b":" in lines[0]:
            headers = True
            while lines and lines[0].strip():
                lines.pop(0)
        try:
            der = base64.b64decode(b"".join(line.strip() for line in lines), validate=True)
        except (binascii.Error, ValueError):
            break
        blocks.append(PEMBlock(match.group("type").decode("ascii", "replace"), headers, der))
    return blocks


def parse_csr(pem: bytes) -> x509.CertificateSigningRequest:
    """The PKCS#10 request in the first PEM block of ``pem`` (upstream's ``ParseCSR``); raises
    ValueError with upstream's message."""
    blocks = pem_blocks(pem)
    if not blocks or blocks[0].type != CERTIFICATE_REQUEST_BLOCK:
        raise ValueError("PEM block type must be CERTIFICATE REQUEST")
    try:
        return x509.load_der_x509_csr(blocks[0].der)
    except ValueError:
        raise ValueError("x509: malformed certificate request") from None


def request_error(pem: bytes) -> str | None:
    """Why ``pem`` is not a well-formed, correctly self-signed CSR; None when it is."""
    try:
        csr = parse_csr(pem)
    except ValueError as err:
        return str(err)
    try:
        valid = csr.is_signature_valid
    except (UnsupportedAlgorithm, InvalidSignature, ValueError):
        return "x509: cannot verify signature: algorithm unimplemented"
    return None if valid else "x509: signature verification failure"


def certificate_error(pem: bytes) -> str | None:
    """Why ``pem`` is not one or more CERTIFICATE blocks; None when it is (or is empty)."""
    if not pem:
        return None
    blocks = pem_blocks(pem)
    for block in blocks:
        if block.type != CERTIFICATE_BLOCK:
            return f'only CERTIFICATE PEM blocks are allowed, found "{block.type}"'
        if block.headers:
            return "no PEM block headers are permitted"
        try:
            x509.load_der_x509_certificate(block.der)
        except ValueError:
            return "x509: malformed certificate"
    if not blocks:
        return "must contain at least one CERTIFICATE PEM block"
    return None


# -- conditions ---------------------------------------------------------------------------------
def conditions(csr: Obj) -> list[Mapping[str, Any]]:
    status = csr.get("status")
    found = status.get("conditions") if isinstance(status, Mapping) else None
    return [c for c in found if isinstance(c, Mapping)] if isinstance(found, list) else []


def find_conditions(csr: Obj, condition_type: str) -> list[Mapping[str, Any]]:
    return [c for c in conditions(csr) if c.get("type") == condition_type]


def has_condition(csr: Obj, condition_type: str) -> bool:
    """Whether a condition of this type is present (upstream's helpers look at the type only)."""
    return bool(find_conditions(csr, condition_type))


def is_approved(csr: Obj) -> bool:
    """Approved and not denied (upstream's ``IsCertificateRequestApproved``)."""
    return has_condition(csr, APPROVED) and not has_condition(csr, DENIED)


def certificate_of(csr: Obj) -> bytes:
    """The issued certificate chain (PEM), or b"" when none was issued (or it is unreadable)."""
    status = csr.get("status")
    try:
        return decode_bytes(status.get("certificate")) if isinstance(status, Mapping) else b""
    except ValueError:
        return b""


def summary(csr: Obj) -> str:
    """The CONDITION column: ``Pending``, ``Approved``/``Denied``, then ``,Failed``, ``,Issued``."""
    text = "Denied" if has_condition(csr, DENIED) else "Approved"
    if not has_condition(csr, DENIED) and not has_condition(csr, APPROVED):
        text = "Pending"
    if has_condition(csr, FAILED):
        text += ",Failed"
    status = csr.get("status")
    if isinstance(status, Mapping) and status.get("certificate"):
        text += ",Issued"
    return text


# -- signer names (pkg/apis/core/validation ValidateSignerName) ----------------------------------
MAX_SIGNER_DOMAIN_LENGTH = 253
MAX_SIGNER_NAME_LENGTH = 253 + (253 + 63 + 1) + 1


def validate_signer_name(path: str, signer_name: Any) -> list[FieldError]:
    """``example.com/signer-name``: a domain of two or more DNS labels, one '/', then a path of
    DNS subdomains separated by dots."""
    if not signer_name:
        return [required(path)]
    if not isinstance(signer_name, str):
        return [type_invalid(path, signer_name, "must be of type string")]
    segments = signer_name.split("/")
    if len(segments) != 2:
        detail = "must be a fully qualified domain and path of the form 'example.com/signer-name'"
        return [invalid(path, signer_name, detail)]
    domain, signer_path = segments
    errs: list[FieldError] = []
    if len(domain) > MAX_SIGNER_DOMAIN_LENGTH:
        errs.append(too_long(path, MAX_SIGNER_DOMAIN_LENGTH))
    labels = domain.split(".")
    for label in labels:
        problems = is_dns1123_label(label)
        if problems:
            errs.extend(invalid(path, domain, f'validating label "{label}": {p}') for p in problems)
            break
    if len(labels) < 2:
        detail = "should be a domain with at least two segments separated by dots"
        errs.append(invalid(path, domain, detail))
    for label in signer_path.split("."):
        problems = is_dns1123_subdomain(label)
        if problems:
            errs.extend(
                invalid(path, signer_path, f'validating label "{label}": {p}') for p in problems
            )
            break
    if len(signer_name) > MAX_SIGNER_NAME_LENGTH:
        errs.append(too_long(path, MAX_SIGNER_NAME_LENGTH))
    return errs


# -- validation ---------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class _Options:
    """What a write may do: the subresource's powers, and old problems it may keep."""

    set_approval: bool = False
    set_certificate: bool = False
    both_approved_and_denied: bool = False
    legacy_signer: bool = False
    duplicate_condition_types: bool = False
    empty_condition_type: bool = False
    arbitrary_certificate: bool = False
    unknown_usages: bool = False
    duplicate_usages: bool = False


def _spec(csr: Obj) -> Mapping[str, Any]:
    spec = csr.get("spec")
    return spec if isinstance(spec, Mapping) else {}


def _usages(csr: Obj) -> list[Any]:
    usages = _spec(csr).get("usages")
    return usages if isinstance(usages, list) else []


def _types(csr: Obj) -> list[Any]:
    return [c.get("type") for c in conditions(csr)]


def _options(new: Obj, old: Obj | None) -> _Options:
    if old is None:
        return _Options()
    types = _types(old)
    usages = _usages(old)
    hashable = [u for u in usages if isinstance(u, str)]
    return _Options(
        both_approved_and_denied=APPROVED in types and DENIED in types,
        legacy_signer=_spec(old).get("signerName") == LEGACY_UNKNOWN_SIGNER,
        duplicate_condition_types=len(set(map(str, types))) != len(types),
        empty_condition_type=any(not t for t in types),
        arbitrary_certificate=_certificate_field(new) == _certificate_field(old)
        or _stored_certificate_invalid(old),
        unknown_usages=any(u not in USAGES for u in usages),
        duplicate_usages=len(set(hashable)) != len(hashable),
    )


def _certificate_field(csr: Obj) -> Any:
    status = csr.get("status")
    return status.get("certificate") or "" if isinstance(status, Mapping) else ""


def _stored_certificate_invalid(csr: Obj) -> bool:
    try:
        return certificate_error(decode_bytes(_certificate_field(csr) or None)) is not None
    except ValueError:
        return True


def _validate_spec(csr: Obj, opts: _Options) -> list[FieldError]:
    errs: list[FieldError] = []
    spec = csr.get("spec")
    if spec is not None and not isinstance(spec, Mapping):
        return [type_invalid("spec", spec, "must be of type object")]
    spec = _spec(csr)
    raw_request = spec.get("request")
    try:
        problem = request_error(decode_bytes(raw_request))
    except ValueError as err:
        problem = str(err)
    if problem is not None:
        errs.append(invalid("spec.request", GoBytes(raw_request), problem))
    usages = spec.get("usages")
    if usages is not None and not isinstance(usages, list):
        errs.append(type_invalid("spec.usages", usages, "must be of type array"))
    usages = _usages(csr)
    if not usages:
        errs.append(required("spec.usages"))
    if not opts.unknown_usages:
        errs.extend(
            not_supported(f"spec.usages[{i}]", usage, _SORTED_USAGES)
            for i, usage in enumerate(usages)
            if usage not in USAGES
        )
    if not opts.duplicate_usages:
        seen: set[str] = set()
        for i, usage in enumerate(usages):
            if isinstance(usage, str) and usage in seen:
                errs.append(duplicate(f"spec.usages[{i}]", usage))
            seen.add(str(usage))
    signer = spec.get("signerName")
    if not opts.legacy_signer and signer == LEGACY_UNKNOWN_SIGNER:
        detail = "the legacy signerName is not allowed via this API version"
        errs.append(invalid("spec.signerName", signer, detail))
    else:
        errs.extend(validate_signer_name("spec.signerName", signer))
    seconds = spec.get("expirationSeconds")
    if seconds is not None:
        if not isinstance(seconds, int) or isinstance(seconds, bool):
            errs.append(type_invalid("spec.expirationSeconds", seconds, "must be of type integer"))
        elif seconds < MIN_EXPIRATION_SECONDS:
            detail = "may not specify a duration less than 600 seconds (10 minutes)"
            errs.append(invalid("spec.expirationSeconds", seconds, detail))
    return errs


def _validate_conditions(csr: Obj, opts: _Options) -> list[FieldError]:
    errs: list[FieldError] = []
    path = "status.conditions"
    seen: set[str] = set()
    approved = denied = False
    for i, condition in enumerate(conditions(csr)):
        kind, value = condition.get("type") or "", condition.get("status") or ""
        if not opts.empty_condition_type and not kind:
            errs.append(required(f"{path}[{i}].type"))
        allowed = ("True",) if kind in FINAL_CONDITIONS else CONDITION_STATUSES
        if not value:
            errs.append(required(f"{path}[{i}].status"))
        elif value not in allowed:
            errs.append(not_supported(f"{path}[{i}].status", value, allowed))
        if not opts.both_approved_and_denied:
            if kind == APPROVED:
                approved = True
            elif kind == DENIED:
                denied = True
            if kind in (APPROVED, DENIED) and approved and denied:
                detail = "Approved and Denied conditions are mutually exclusive"
                errs.append(invalid(f"{path}[{i}].type", kind, detail))
        if not opts.duplicate_condition_types:
            if str(kind) in seen:
                errs.append(duplicate(f"{path}[{i}].type", kind))
            seen.add(str(kind))
    return errs


def _validate(csr: Obj, opts: _Options) -> list[FieldError]:
    errs = _validate_spec(csr, opts)
    errs += _validate_conditions(csr, opts)
    if not opts.arbitrary_certificate:
        try:
            problem = certificate_error(decode_bytes(_certificate_field(csr) or None))
        except ValueError as err:
            problem = str(err)
        if problem is not None:
            errs.append(invalid("status.certificate", "<certificate data>", problem))
    return errs


def validate_create(csr: Obj) -> list[FieldError]:
    """A new CSR (metadata is the registry's to check)."""
    return _validate(csr, _options(csr, None))


def validate_update(
    new: Obj, old: Obj, *, set_approval: bool = False, set_certificate: bool = False
) -> list[FieldError]:
    """An update of ``old`` to ``new``: ``set_approval`` for ``/approval``, ``set_certificate``
    for ``/status``; the main resource may do neither."""
    opts = dataclasses.replace(
        _options(new, old), set_approval=set_approval, set_certificate=set_certificate
    )
    errs = _validate(new, opts)
    for kind in FINAL_CONDITIONS:
        if len(find_conditions(new, kind)) < len(find_conditions(old, kind)):
            detail = f'updates may not remove a condition of type "{kind}"'
            errs.append(forbidden("status.conditions", detail))
    if not set_approval:
        for kind in (APPROVED, DENIED):
            before, after = find_conditions(old, kind), find_conditions(new, kind)
            if len(after) > len(before):
                detail = f'updates may not add a condition of type "{kind}"'
                errs.append(forbidden("status.conditions", detail))
            elif len(after) == len(before) and list(after) != list(before):
                # upstream appends a cmp.Diff of the two, which we do not reproduce
                detail = f'updates may not modify a condition of type "{kind}"'
                errs.append(forbidden("status.conditions", detail))
    if _certificate_field(new) != _certificate_field(old):
        if not set_certificate:
            errs.append(forbidden("status.certificate", "updates may not set certificate content"))
        elif _certificate_field(old):
            detail = "updates may not modify existing certificate content"
            errs.append(forbidden("status.certificate", detail))
    return errs


def requesting_user(
    username: str,
    groups: Sequence[str],
    uid: str = "",
    extra: Mapping[str, Sequence[str]] | None = None,
) -> dict[str, Any]:
    """The spec fields that say who asked, as the API server fills them on create."""
    fields: dict[str, Any] = {"username": username, "groups": list(groups)}
    if uid:
        fields["uid"] = uid
    if extra:
        fields["extra"] = {key: list(values) for key, values in extra.items()}
    return fields
