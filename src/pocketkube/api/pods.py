"""Pods: upstream's defaults (``SetDefaults_Pod``, ``_PodSpec``, ``_Container``, probes, volumes)
and the validation a pod must pass on create and update.

Defaulting runs on every pod and every pod template (Deployments, Jobs, ...), so that what is
stored is what the kubelet and the controllers read without guessing, exactly as upstream stores
it. The update rules are upstream's: a pod's spec is immutable but for container images,
``activeDeadlineSeconds`` and added tolerations.
"""

from __future__ import annotations

from typing import Any

from pocketkube.api.validation import (
    FieldError,
    duplicate,
    forbidden,
    invalid,
    is_dns1123_label,
    not_supported,
    required,
)

RESTART_POLICIES = ("Always", "OnFailure", "Never")
DNS_POLICIES = ("ClusterFirstWithHostNet", "ClusterFirst", "Default", "None")
PULL_POLICIES = ("Always", "IfNotPresent", "Never")
SPEC_UPDATE_FORBIDDEN = (
    "pod updates may not change fields other than `spec.containers[*].image`,"
    "`spec.initContainers[*].image`,`spec.activeDeadlineSeconds`,`spec.tolerations` (only "
    "additions to existing tolerations),`spec.terminationGracePeriodSeconds` (allow it to be set "
    "to 1 if it was previously negative)"
)


def _pull_policy(image: str) -> str:
    name = image.rsplit("/", 1)[-1]
    if "@" in name:
        return "IfNotPresent"
    tag = name.split(":", 1)[1] if ":" in name else ""
    return "Always" if tag in ("", "latest") else "IfNotPresent"


def _default_probe(probe: Any) -> None:
    if not isinstance(probe, dict):
        return
    probe.setdefault("timeoutSeconds", 1)
    probe.setdefault("periodSeconds", 10)
    probe.setdefault("successThreshold", 1)
    probe.setdefault("failureThreshold", 3)
    http = probe.get("httpGet")
    if isinstance(http, dict):
        http.setdefault("path", "/")
        http.setdefault("scheme", "HTTP")


def _default_container(container: Any) -> None:
    if not isinstance(container, dict):
        return
    if isinstance(container.get("image"), str):
        container.setdefault("imagePullPolicy", _pull_policy(container["image"]))
    container.setdefault("terminationMessagePath", "/dev/termination-log")
    container.setdefault("terminationMessagePolicy", "File")
    container.setdefault("resources", {})
    for port in container.get("ports") or []:
        if isinstance(port, dict):
            port.setdefault("protocol", "TCP")
    for probe in ("livenessProbe", "readinessProbe", "startupProbe"):
        _default_probe(container.get(probe))
    for env in container.get("env") or []:
        field_ref = (env.get("valueFrom") or {}).get("fieldRef") if isinstance(env, dict) else None
        if isinstance(field_ref, dict):
            field_ref.setdefault("apiVersion", "v1")


def _default_volume(volume: Any) -> None:
    if not isinstance(volume, dict):
        return
    for source in ("configMap", "secret"):
        if isinstance(volume.get(source), dict):
            volume[source].setdefault("defaultMode", 420)
    if isinstance(volume.get("hostPath"), dict):
        volume["hostPath"].setdefault("type", "")
    if not any(k != "name" for k in volume):
        volume["emptyDir"] = {}


def default_pod_spec(spec: Any) -> None:
    """Upstream's PodSpec defaults, in place (pods and pod templates alike)."""
    if not isinstance(spec, dict):
        return
    spec.setdefault("restartPolicy", "Always")
    spec.setdefault("terminationGracePeriodSeconds", 30)
    spec.setdefault("dnsPolicy", "ClusterFirst")
    spec.setdefault("securityContext", {})
    spec.setdefault("schedulerName", "default-scheduler")
    spec.setdefault("enableServiceLinks", True)
    for key in ("containers", "initContainers", "ephemeralContainers"):
        for container in spec.get(key) or []:
            _default_container(container)
    for volume in spec.get("volumes") or []:
        _default_volume(volume)


def default_pod(pod: dict[str, Any]) -> None:
    """Field defaults of a pod (on every write, as upstream defaults every decoded object): the
    spec's, ``serviceAccount`` as the deprecated alias of ``serviceAccountName`` (upstream's v1
    conversion), and the status a new pod starts with.

    What upstream's admission plugins add on create (the ``default`` service account, priority,
    the default NoExecute tolerations) is in ``pocketkube.apiserver.admission``.
    """
    spec = pod.setdefault("spec", {})
    default_pod_spec(spec)
    if isinstance(spec, dict):
        if not spec.get("serviceAccountName") and spec.get("serviceAccount"):
            spec["serviceAccountName"] = spec["serviceAccount"]
        if spec.get("serviceAccountName"):
            spec["serviceAccount"] = spec["serviceAccountName"]
    status = pod.setdefault("status", {})
    if isinstance(status, dict):
        status.setdefault("phase", "Pending")
        status.setdefault("qosClass", qos_class(spec))


def qos_class(spec: Any) -> str:
    """BestEffort, Burstable or Guaranteed, from the containers' requests and limits."""
    containers = [*(spec.get("containers") or []), *(spec.get("initContainers") or [])]
    any_set, guaranteed = False, True
    for container in containers:
        resources = container.get("resources") or {} if isinstance(container, dict) else {}
        requests, limits = resources.get("requests") or {}, resources.get("limits") or {}
        if requests or limits:
            any_set = True
        for name in ("cpu", "memory"):
            if name not in limits or requests.get(name, limits[name]) != limits[name]:
                guaranteed = False
    if not any_set:
        return "BestEffort"
    return "Guaranteed" if guaranteed else "Burstable"


def _validate_containers(containers: Any, path: str, *, required_one: bool) -> list[FieldError]:
    errs: list[FieldError] = []
    if not isinstance(containers, list) or (required_one and not containers):
        if required_one:
            errs.append(required(path))
        return errs
    seen: set[str] = set()
    for i, container in enumerate(containers):
        where = f"{path}[{i}]"
        if not isinstance(container, dict):
            errs.append(invalid(where, container, "must be an object"))
            continue
        name = container.get("name")
        if not name:
            errs.append(required(f"{where}.name"))
        elif name in seen:
            errs.append(duplicate(f"{where}.name", name))
        else:
            seen.add(name)
            errs.extend(invalid(f"{where}.name", name, m) for m in is_dns1123_label(str(name)))
        if not container.get("image"):
            errs.append(required(f"{where}.image"))
        policy = container.get("imagePullPolicy")
        if policy is not None and policy not in PULL_POLICIES:
            errs.append(not_supported(f"{where}.imagePullPolicy", policy, PULL_POLICIES))
    return errs


def validate_pod_spec(spec: Any, path: str = "spec") -> list[FieldError]:
    if not isinstance(spec, dict):
        return [required(path)]
    errs = _validate_containers(spec.get("containers"), f"{path}.containers", required_one=True)
    errs += _validate_containers(
        spec.get("initContainers"), f"{path}.initContainers", required_one=False
    )
    policy = spec.get("restartPolicy")
    if policy not in RESTART_POLICIES:
        errs.append(not_supported(f"{path}.restartPolicy", policy, RESTART_POLICIES))
    dns = spec.get("dnsPolicy")
    if dns not in DNS_POLICIES:
        errs.append(not_supported(f"{path}.dnsPolicy", dns, DNS_POLICIES))
    grace = spec.get("terminationGracePeriodSeconds")
    if not isinstance(grace, int) or isinstance(grace, bool):
        errs.append(invalid(f"{path}.terminationGracePeriodSeconds", grace, "must be an integer"))
    return errs


def _mutable_view(spec: dict[str, Any]) -> dict[str, Any]:
    """The spec with the fields an update may change blanked out."""
    view = {k: v for k, v in spec.items() if k not in ("activeDeadlineSeconds", "tolerations")}
    for key in ("containers", "initContainers"):
        view[key] = [
            {k: v for k, v in c.items() if k != "image"} if isinstance(c, dict) else c
            for c in spec.get(key) or []
        ]
    return view


def validate_pod(pod: dict[str, Any], old: dict[str, Any] | None) -> list[FieldError]:
    spec = pod.get("spec")
    errs = validate_pod_spec(spec)
    if old is None and isinstance(spec, dict) and spec.get("ephemeralContainers"):
        # added later through pods/ephemeralcontainers only (upstream's ValidatePodCreate)
        errs.append(forbidden("spec.ephemeralContainers", "cannot be set on create"))
    if old is not None and isinstance(spec, dict) and isinstance(old.get("spec"), dict):
        if _mutable_view(spec) != _mutable_view(old["spec"]):
            errs.append(forbidden("spec", SPEC_UPDATE_FORBIDDEN))
        tolerations = old["spec"].get("tolerations") or []
        if any(t not in (spec.get("tolerations") or []) for t in tolerations):
            errs.append(forbidden("spec.tolerations", "existing toleration can not be modified"))
    return errs
