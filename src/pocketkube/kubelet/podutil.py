"""Small facts about a pod's spec that several parts of the kubelet ask (upstream podutil).

Pods are the API's JSON dicts; these helpers keep the field names and the defaulting rules
(restart policy, grace periods, sidecar detection) in one place.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

Obj = dict[str, Any]

# Labels and annotations the kubelet puts on sandboxes and containers (upstream's names), so
# that the runtime's records alone tell which pod and container they belong to after a restart.
POD_NAME_LABEL = "io.kubernetes.pod.name"
POD_NAMESPACE_LABEL = "io.kubernetes.pod.namespace"
POD_UID_LABEL = "io.kubernetes.pod.uid"
CONTAINER_NAME_LABEL = "io.kubernetes.container.name"
CONTAINER_HASH_ANNOTATION = "io.kubernetes.container.hash"
RESTART_COUNT_ANNOTATION = "io.kubernetes.container.restartCount"
TERMINATION_MESSAGE_PATH_ANNOTATION = "io.kubernetes.container.terminationMessagePath"
TERMINATION_MESSAGE_POLICY_ANNOTATION = "io.kubernetes.container.terminationMessagePolicy"
TERMINATION_GRACE_ANNOTATION = "io.kubernetes.pod.terminationGracePeriod"
TERMINATION_LOG_ANNOTATION = "pocketkube.io/terminationLogPath"  # the host file of the message

DEFAULT_GRACE_SECONDS = 30
MINIMUM_GRACE_SECONDS = 2  # what StopContainer gets when preStop used up the grace period


def uid(pod: Obj) -> str:
    return str(pod["metadata"]["uid"])


def full_name(pod: Obj) -> str:
    """``name_namespace(uid)``: how upstream's kubelet names a pod in messages."""
    meta = pod["metadata"]
    return f"{meta['name']}_{meta.get('namespace', 'default')}({meta['uid']})"


def differ_semantically(old: Obj, new: Obj) -> bool:
    """Whether an update changed what the kubelet runs, as upstream's pod config decides
    (podsDifferSemantically): the spec, labels, annotations, or the deletion. A change of the
    status alone is not one."""
    old_meta, new_meta = old.get("metadata", {}), new.get("metadata", {})
    return old.get("spec") != new.get("spec") or any(
        old_meta.get(key) != new_meta.get(key)
        for key in (
            "labels",
            "annotations",
            "deletionTimestamp",
            "deletionGracePeriodSeconds",
            "uid",
        )
    )


def restart_policy(pod: Obj) -> str:
    return str(pod.get("spec", {}).get("restartPolicy") or "Always")


def is_sidecar(container: Obj) -> bool:
    """An init container with ``restartPolicy: Always`` keeps running beside the app."""
    return container.get("restartPolicy") == "Always"


def init_containers(pod: Obj) -> list[Obj]:
    return list(pod.get("spec", {}).get("initContainers") or [])


def containers(pod: Obj) -> list[Obj]:
    return list(pod.get("spec", {}).get("containers") or [])


def all_containers(pod: Obj) -> Iterator[Obj]:
    yield from init_containers(pod)
    yield from containers(pod)


def container_spec(pod: Obj, name: str) -> Obj | None:
    for container in all_containers(pod):
        if container.get("name") == name:
            return container
    return None


def is_terminating(pod: Obj) -> bool:
    return bool(pod.get("metadata", {}).get("deletionTimestamp"))


def is_terminal(pod: Obj) -> bool:
    return pod.get("status", {}).get("phase") in ("Succeeded", "Failed")


def host_network(pod: Obj) -> bool:
    return bool(pod.get("spec", {}).get("hostNetwork"))


def grace_period(pod: Obj) -> int:
    """Seconds a pod's containers get to stop: the deletion's grace if it is being deleted."""
    meta = pod.get("metadata", {})
    if meta.get("deletionGracePeriodSeconds") is not None:
        return max(0, int(meta["deletionGracePeriodSeconds"]))
    value = pod.get("spec", {}).get("terminationGracePeriodSeconds")
    return DEFAULT_GRACE_SECONDS if value is None else max(0, int(value))


def should_restart(pod: Obj, container: Obj, exit_code: int) -> bool:
    """The restart-policy table: Always restarts, OnFailure on non-zero, Never never."""
    if is_sidecar(container):
        return True
    policy = restart_policy(pod)
    if policy == "Never":
        return False
    if policy == "OnFailure":
        return exit_code != 0
    return True
