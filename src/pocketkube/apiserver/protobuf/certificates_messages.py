"""Message tables of certificates.k8s.io/v1 (notation: see schema.py).

``kubectl certificate approve|deny`` sends the whole CertificateSigningRequest in protobuf to
``/approval``. ``spec.extra`` is not listed: the API server fills it from the requesting user
on create, and no later write may change the spec.
"""

MESSAGES: dict[str, str] = {
    "CertificateSigningRequest": (
        "1=metadata:ObjectMeta 2=spec:CertificateSigningRequestSpec"
        " 3=status:CertificateSigningRequestStatus"
    ),
    "CertificateSigningRequestSpec": (
        "1=request:bytes? 7=signerName? 8=expirationSeconds:int? 5=usages:[]string"
        " 2=username 3=uid 4=groups:[]string"
    ),
    "CertificateSigningRequestStatus": (
        "1=conditions:[]CertificateSigningRequestCondition 2=certificate:bytes"
    ),
    "CertificateSigningRequestCondition": (
        "1=type? 6=status? 2=reason 3=message 4=lastUpdateTime:Time 5=lastTransitionTime:Time"
    ),
}
