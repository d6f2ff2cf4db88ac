"""The API resources the controllers use beyond the client's built-in list."""

from __future__ import annotations

from pocketkube.client.resources import Resource

CERTIFICATE_SIGNING_REQUESTS = Resource(
    group="certificates.k8s.io",
    version="v1",
    plural="certificatesigningrequests",
    namespaced=False,
    kind="CertificateSigningRequest",
)
SUBJECT_ACCESS_REVIEWS = Resource(
    group="authorization.k8s.io",
    version="v1",
    plural="subjectaccessreviews",
    namespaced=False,
    kind="SubjectAccessReview",
)
