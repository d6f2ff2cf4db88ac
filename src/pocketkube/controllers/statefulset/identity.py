"""A StatefulSet pod's stable identity (upstream's ``stateful_set_utils.go``): its name
``<set>-<ordinal>``, hostname (the pod's name) and subdomain (``spec.serviceName``), the
``statefulset.kubernetes.io/pod-name`` and ``apps.kubernetes.io/pod-index`` labels, and its
storage: one PersistentVolumeClaim per ``volumeClaimTemplates`` entry, named
``<claim>-<set>-<ordinal>``, mounted as the template's volume of the claim's name."""

from __future__ import annotations

import copy
import re
from typing import Any

from pocketkube.client import resources
from pocketkube.client.rest import Obj
from pocketkube.controllers import podcontrol as pc

POD_NAME_LABEL = "statefulset.kubernetes.io/pod-name"
POD_INDEX_LABEL = "apps.kubernetes.io/pod-index"
REVISION_LABEL = "controller-revision-hash"  # apps.ControllerRevisionHashLabelKey

_ORDINAL_NAME = re.compile(r"^(.*)-([0-9]+)$")


def parent_and_ordinal(pod: Obj) -> tuple[str, int]:
    """The set name and ordinal a pod's name encodes; ``("", -1)`` if it encodes none."""
    match = _ORDINAL_NAME.match(str((pod.get("metadata") or {}).get("name", "")))
    if match is None:
        return "", -1
    return match.group(1), int(match.group(2))


def ordinal_of(pod: Obj) -> int:
    return parent_and_ordinal(pod)[1]


def is_member_of(sts: Obj, pod: Obj) -> bool:
    return parent_and_ordinal(pod)[0] == str(sts["metadata"]["name"])


def pod_name(sts: Obj, ordinal: int) -> str:
    return f"{sts['metadata']['name']}-{ordinal}"


def claim_name(sts: Obj, claim: Obj, ordinal: int) -> str:
    return f"{claim['metadata']['name']}-{sts['metadata']['name']}-{ordinal}"


def start_ordinal(sts: Obj) -> int:
    start = ((sts.get("spec") or {}).get("ordinals") or {}).get("start")
    return start if isinstance(start, int) and start >= 0 else 0


def _claim_templates(sts: Obj) -> list[Obj]:
    claims = (sts.get("spec") or {}).get("volumeClaimTemplates") or []
    return [c for c in claims if isinstance(c, dict) and (c.get("metadata") or {}).get("name")]


def claims_for(sts: Obj, ordinal: int) -> dict[str, Obj]:
    """The PVCs the pod of ``ordinal`` mounts, by template (volume) name (upstream's
    getPersistentVolumeClaims): the template's labels plus the set's ``matchLabels``."""
    match_labels = ((sts.get("spec") or {}).get("selector") or {}).get("matchLabels") or {}
    claims = {}
    for template in _claim_templates(sts):
        meta = template.get("metadata") or {}
        claim_meta: Obj = {
            "name": claim_name(sts, template, ordinal),
            "namespace": sts["metadata"].get("namespace"),
            "labels": {**(meta.get("labels") or {}), **match_labels},
        }
        if meta.get("annotations"):
            claim_meta["annotations"] = dict(meta["annotations"])
        claims[meta["name"]] = {
            "apiVersion": "v1",
            "kind": "PersistentVolumeClaim",
            "metadata": claim_meta,
            "spec": copy.deepcopy(template.get("spec") or {}),
        }
    return claims


def _claim_volumes(sts: Obj, ordinal: int) -> list[Obj]:
    return [
        {"name": volume, "persistentVolumeClaim": {"claimName": claim["metadata"]["name"]}}
        for volume, claim in claims_for(sts, ordinal).items()
    ]


def update_storage(sts: Obj, pod: Obj) -> None:
    """Mount the ordinal's claims, replacing template volumes of the same names."""
    claim_volumes = _claim_volumes(sts, ordinal_of(pod))
    names = {v["name"] for v in claim_volumes}
    spec = pod.setdefault("spec", {})
    kept = [v for v in spec.get("volumes") or () if v.get("name") not in names]
    if kept or claim_volumes:
        spec["volumes"] = kept + claim_volumes


def storage_matches(sts: Obj, pod: Obj) -> bool:
    volumes = {v.get("name"): v for v in (pod.get("spec") or {}).get("volumes") or ()}
    for wanted in _claim_volumes(sts, ordinal_of(pod)):
        have = volumes.get(wanted["name"]) or {}
        claim = (have.get("persistentVolumeClaim") or {}).get("claimName")
        if claim != wanted["persistentVolumeClaim"]["claimName"]:
            return False
    return True


def update_identity(sts: Obj, pod: Obj) -> None:
    """Name, namespace, hostname, subdomain and identity labels of the pod's ordinal."""
    ordinal = ordinal_of(pod)
    meta = pod["metadata"]
    meta["name"] = pod_name(sts, ordinal)
    meta["namespace"] = sts["metadata"].get("namespace")
    labels = meta.setdefault("labels", {})
    labels[POD_NAME_LABEL] = meta["name"]
    labels[POD_INDEX_LABEL] = str(ordinal)
    spec = pod.setdefault("spec", {})
    spec["hostname"] = meta["name"]
    service = (sts.get("spec") or {}).get("serviceName")
    if service:
        spec["subdomain"] = service
    else:
        spec.pop("subdomain", None)


def identity_matches(sts: Obj, pod: Obj) -> bool:
    parent, ordinal = parent_and_ordinal(pod)
    meta, spec = pod.get("metadata") or {}, pod.get("spec") or {}
    labels = meta.get("labels") or {}
    return (
        ordinal >= 0
        and parent == sts["metadata"]["name"]
        and meta.get("namespace") == sts["metadata"].get("namespace")
        and labels.get(POD_NAME_LABEL) == meta.get("name")
        and labels.get(POD_INDEX_LABEL) == str(ordinal)
        and spec.get("hostname") == meta.get("name")
        and (spec.get("subdomain") or "") == ((sts.get("spec") or {}).get("serviceName") or "")
    )


def new_pod(sts: Obj, ordinal: int, revision: str) -> Obj:
    """The pod of ``ordinal`` built from ``sts``'s template (upstream's newStatefulSetPod), with
    the revision label naming the ControllerRevision it was built from."""
    template = (sts.get("spec") or {}).get("template") or {}
    pod = pc.pod_from_template(template, sts, resources.STATEFUL_SETS)
    meta = pod["metadata"]
    meta.pop("generateName", None)
    meta["name"] = pod_name(sts, ordinal)
    update_identity(sts, pod)
    update_storage(sts, pod)
    if revision:
        meta["labels"][REVISION_LABEL] = revision
    return pod


def revision_of(pod: Obj) -> str:
    return str(((pod.get("metadata") or {}).get("labels") or {}).get(REVISION_LABEL, ""))


def describe(obj: Any) -> str:
    return str((obj.get("metadata") or {}).get("name", "")) if isinstance(obj, dict) else ""
