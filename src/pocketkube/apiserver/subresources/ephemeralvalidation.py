"""What a write to ``pods/ephemeralcontainers`` must satisfy (upstream's
``ValidatePodEphemeralContainersUpdate`` and ``validateEphemeralContainers``).

An ephemeral container is a debugging process added to a running pod: it is never restarted,
has no resources of its own and serves nothing, so the fields that would say otherwise (ports,
probes, lifecycle hooks, resources, a restart policy) are refused, and once added it is never
changed or removed. A static (mirror) pod takes none. Field paths and messages are upstream's,
including its ``ephemeralContainerCommon`` path segment.
"""

from __future__ import annotations

from typing import Any

from pocketkube.api.validation import (
    ErrorType,
    FieldError,
    duplicate,
    forbidden,
    go_quote,
    invalid,
    is_dns1123_label,
    not_supported,
    required,
)
from pocketkube.storage.interface import Obj

MIRROR_POD_ANNOTATION = "kubernetes.io/config.mirror"
PULL_POLICIES = ("Always", "IfNotPresent", "Never")
TERMINATION_MESSAGE_POLICIES = ("File", "FallbackToLogsOnError")
# EphemeralContainerCommon's fields an ephemeral container may not set, in declaration order.
NOT_ALLOWED = (
    "ports",
    "resources",
    "resizePolicy",
    "restartPolicy",
    "livenessProbe",
    "readinessProbe",
    "startupProbe",
    "lifecycle",
)
NOT_ALLOWED_DETAIL = "cannot be set for an Ephemeral Container"
SPEC_PATH = "spec.ephemeralContainers"


def _names(spec: dict[str, Any], key: str) -> list[str]:
    return [str(c.get("name")) for c in spec.get(key) or [] if isinstance(c, dict)]


def _validate_common(container: dict[str, Any], path: str, volumes: set[str]) -> list[FieldError]:
    """The checks every container gets (validateContainerCommon, validateContainerOnlyForPod)."""
    name = str(container["name"])
    errors = [invalid(f"{path}.name", name, msg) for msg in is_dns1123_label(name)]
    image = container.get("image")
    if not image:
        errors.append(required(f"{path}.image"))
    elif isinstance(image, str) and image != image.strip():
        errors.append(
            invalid(f"{path}.image", image, "must not have leading or trailing whitespace")
        )
    # both are defaulted, so only a wrong value can be here
    policy = container.get("imagePullPolicy")
    if policy and policy not in PULL_POLICIES:
        errors.append(not_supported(f"{path}.imagePullPolicy", policy, PULL_POLICIES))
    message_policy = container.get("terminationMessagePolicy")
    if message_policy and message_policy not in TERMINATION_MESSAGE_POLICIES:
        errors.append(
            not_supported(
                f"{path}.terminationMessagePolicy", message_policy, TERMINATION_MESSAGE_POLICIES
            )
        )
    for index, mount in enumerate(container.get("volumeMounts") or []):
        volume = mount.get("name") if isinstance(mount, dict) else None
        if volume and volume not in volumes:
            where = f"{path}.volumeMounts[{index}].name"
            errors.append(FieldError(ErrorType.NOT_FOUND, where, volume))
    return errors


def _validate_only_ephemeral(container: dict[str, Any], path: str) -> list[FieldError]:
    """The fields an ephemeral container may not have, and no subPath mounts (they would
    outlive the container until the pod exits)."""
    errors = [
        forbidden(f"{path}.{field}", NOT_ALLOWED_DETAIL)
        for field in NOT_ALLOWED
        if container.get(field)
    ]
    for index, mount in enumerate(container.get("volumeMounts") or []):
        if not isinstance(mount, dict):
            continue
        for field in ("subPath", "subPathExpr"):
            if mount.get(field):
                where = f"{path}.volumeMounts[{index}].{field}"
                errors.append(forbidden(where, NOT_ALLOWED_DETAIL))
    return errors


def validate_ephemeral_containers(spec: Any) -> list[FieldError]:
    """Upstream's validateEphemeralContainers on a pod spec."""
    if not isinstance(spec, dict) or not spec.get("ephemeralContainers"):
        return []
    containers = spec["ephemeralContainers"]
    if not isinstance(containers, list):
        return [invalid(SPEC_PATH, containers, "must be of type array")]
    others = {*_names(spec, "containers"), *_names(spec, "initContainers")}
    seen = set(others)
    volumes = {str(v.get("name")) for v in spec.get("volumes") or [] if isinstance(v, dict)}
    errors: list[FieldError] = []
    for index, container in enumerate(containers):
        path = f"{SPEC_PATH}[{index}]"
        common = f"{path}.ephemeralContainerCommon"
        if not isinstance(container, dict):
            errors.append(invalid(path, container, "must be of type object"))
            continue
        target = container.get("targetContainerName")
        if target and target not in others:
            errors.append(FieldError(ErrorType.NOT_FOUND, f"{path}.targetContainerName", target))
        if not container.get("name"):
            errors.append(invalid(common, container, "ephemeralContainer requires a name"))
            continue
        errors += _validate_common(container, common, volumes)
        name = str(container["name"])
        if name in seen:
            errors.append(duplicate(f"{common}.name", name))
        else:
            seen.add(name)
        errors += _validate_only_ephemeral(container, common)
    return errors


def _changed_fields(old: dict[str, Any], new: dict[str, Any]) -> str:
    """Which fields differ (where upstream prints a structural diff)."""
    return ", ".join(sorted(k for k in {*old, *new} if old.get(k) != new.get(k)))


def is_static_pod(pod: Obj) -> bool:
    return MIRROR_POD_ANNOTATION in (pod.get("metadata", {}).get("annotations") or {})


# Upstream answers a static pod with this error alone (its field path is the empty path, "[]").
STATIC_POD = forbidden("[]", "static pods do not support ephemeral containers")


def validate_update(pod: Obj, old: Obj) -> list[FieldError]:
    """The ephemeral containers of ``pod`` are valid, and those ``old`` had are still there,
    unchanged (matched by name: a patch need not keep their order)."""
    spec: Any = pod.get("spec")
    spec = spec if isinstance(spec, dict) else {}
    errors = validate_ephemeral_containers(spec)
    new_by_name = {
        c.get("name"): c for c in spec.get("ephemeralContainers") or [] if isinstance(c, dict)
    }
    for container in (old.get("spec") or {}).get("ephemeralContainers") or []:
        name = str(container.get("name"))
        new = new_by_name.get(name)
        if new is None:
            detail = f"existing ephemeral containers {go_quote(name)} may not be removed\n"
            errors.append(forbidden(SPEC_PATH, detail))
        elif new != container:
            detail = (
                f"existing ephemeral containers {go_quote(name)} may not be changed\n"
                f"changed: {_changed_fields(container, new)}"
            )
            errors.append(forbidden(f"{SPEC_PATH}[{name}]", detail))
    return errors
