"""Kubernetes protobuf request bodies (``application/vnd.kubernetes.protobuf``) read into the same
JSON objects a JSON body would give.

client-go's typed clients — kubectl ``create namespace|configmap|secret|deployment|job|...``,
``create token``, ``auth can-i``, ``autoscale`` — send built-in objects in protobuf and never fall
back to JSON. The body is the magic ``k8s\\x00`` followed by a ``runtime.Unknown`` envelope whose
``raw`` holds the object's own encoding. A generic wire reader (``wire``) walks the bytes, and
per-message tables (``schema`` and the ``*_messages`` data modules) say what each field number
means. Replies stay JSON: every Accept header client-go sends lists it.
"""

from pocketkube.apiserver.protobuf.decode import (
    MalformedProtobuf,
    UnsupportedProtobufKind,
    decode_kubernetes_protobuf,
)

__all__ = ["MalformedProtobuf", "UnsupportedProtobufKind", "decode_kubernetes_protobuf"]
