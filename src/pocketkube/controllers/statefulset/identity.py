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


# -- claim retention (persistentVolumeClaimRetentionPolicy) -------------------------------------
RETAIN, DELETE = "Retain", "Delete"


def retention_policy(sts: Obj) -> tuple[str, str]:
    """``(whenDeleted, whenScaled)``, each ``Retain`` unless set to ``Delete``."""
    policy = (sts.get("spec") or {}).get("persistentVolumeClaimRetentionPolicy") or {}
    return (
        DELETE if policy.get("whenDeleted") == DELETE else RETAIN,
        DELETE if policy.get("whenScaled") == DELETE else RETAIN,
    )


def in_ordinal_range(sts: Obj, pod: Obj) -> bool:
    replicas = (sts.get("spec") or {}).get("replicas")
    count = replicas if isinstance(replicas, int) and replicas >= 0 else 1
    start = start_ordinal(sts)
    return start <= ordinal_of(pod) < start + count


def _set_ref(claim: Obj, api_version: str, kind: str, owner: Obj) -> bool:
    meta = owner.get("metadata") or {}
    uid = meta.get("uid")
    if not uid:
        return False
    refs = claim["metadata"].setdefault("ownerReferences", [])
    if any(ref.get("uid") == uid for ref in refs):
        return False
    refs.append({"apiVersion": api_version, "kind": kind, "name": meta.get("name"), "uid": uid})
    return True


def _remove_ref(claim: Obj, owner: Obj) -> bool:
    uid = (owner.get("metadata") or {}).get("uid")
    refs = claim["metadata"].get("ownerReferences") or []
    kept = [ref for ref in refs if ref.get("uid") != uid]
    if len(kept) == len(refs):
        return False
    if kept:
        claim["metadata"]["ownerReferences"] = kept
    else:
        claim["metadata"].pop("ownerReferences", None)
    return True


def update_claim_owner_refs(sts: Obj, pod: Obj, claim: Obj) -> bool:
    """Point ``claim``'s owner references where the retention policy wants them (upstream's
    updateClaimOwnerRefForSetAndPod): to the set when ``whenDeleted: Delete``, to a scaled-down
    pod when ``whenScaled: Delete`` (the garbage collector then deletes the claim with its
    owner). True when ``claim`` changed."""
    when_deleted, when_scaled = retention_policy(sts)
    set_kind = (resources.STATEFUL_SETS.api_version, resources.STATEFUL_SETS.kind)
    pod_kind = ("v1", "Pod")
    scaled_down = not in_ordinal_range(sts, pod)
    changed = False
    if when_deleted == DELETE and not (when_scaled == DELETE and scaled_down):
        changed |= _set_ref(claim, *set_kind, sts)
    else:
        changed |= _remove_ref(claim, sts)
    if when_scaled == DELETE and scaled_down:
        changed |= _set_ref(claim, *pod_kind, pod)
    else:
        changed |= _remove_ref(claim, pod)
    return changed
