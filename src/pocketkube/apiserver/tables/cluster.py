"""Tables for Lease, PriorityClass and CertificateSigningRequest, and upstream's default table
convertor (k8s.io/apiserver/pkg/registry/rest/table.go) used by every kind without a printer of
its own, CustomResourceDefinition among them: Name and "Created At", the creation time in
RFC 3339."""

from __future__ import annotations

from datetime import datetime, timedelta

from pocketkube.api import certificates
from pocketkube.apiserver.tables.common import (
    AGE,
    NAME,
    Cells,
    Column,
    Obj,
    Printer,
    age_of,
    as_int,
    doc,
    get,
    human_duration,
    name_of,
    rfc3339,
)


def lease_cells(lease: Obj, now: datetime) -> Cells:
    return [name_of(lease), str(get(lease, "spec", "holderIdentity") or ""), age_of(lease, now)]


def priority_class_cells(pc: Obj, now: datetime) -> Cells:
    return [
        name_of(pc),
        as_int(pc.get("value")),
        pc.get("globalDefault") is True,
        age_of(pc, now),
        str(pc.get("preemptionPolicy") or ""),
    ]


def csr_cells(csr: Obj, now: datetime) -> Cells:
    seconds = get(csr, "spec", "expirationSeconds")
    requested = "<none>"
    if isinstance(seconds, int) and not isinstance(seconds, bool):
        requested = human_duration(timedelta(seconds=seconds))
    return [
        name_of(csr),
        age_of(csr, now),
        str(get(csr, "spec", "signerName") or "<none>"),
        str(get(csr, "spec", "username") or ""),
        requested,
        certificates.summary(csr),
    ]


def default_cells(obj: Obj, now: datetime) -> Cells:
    return [name_of(obj), rfc3339(get(obj, "metadata", "creationTimestamp"))]


DEFAULT_PRINTER = Printer(
    (NAME, Column("Created At", "date", doc("ObjectMeta.creationTimestamp"))), default_cells
)

PRINTERS = {
    "Lease": Printer(
        (NAME, Column("Holder", "string", doc("LeaseSpec.holderIdentity")), AGE), lease_cells
    ),
    "PriorityClass": Printer(
        (
            NAME,
            Column("Value", "integer", doc("PriorityClass.value")),
            Column("Global-Default", "boolean", doc("PriorityClass.globalDefault")),
            AGE,
            Column("PreemptionPolicy", "string", doc("PriorityClass.preemptionPolicy")),
        ),
        priority_class_cells,
    ),
    "CertificateSigningRequest": Printer(
        (
            NAME,
            AGE,
            Column("SignerName", "string", doc("CertificateSigningRequestSpec.signerName")),
            # upstream describes the requestor with the request's documentation
            Column("Requestor", "string", doc("CertificateSigningRequestSpec.request")),
            Column(
                "RequestedDuration",
                "string",
                doc("CertificateSigningRequestSpec.expirationSeconds"),
            ),
            Column("Condition", "string", doc("CertificateSigningRequestStatus.conditions")),
        ),
        csr_cells,
    ),
    "CustomResourceDefinition": DEFAULT_PRINTER,
}
