"""Per-kind rules: defaults applied on every write, and validation on create and update.

As upstream's strategies (PrepareForCreate, Validate, ValidateUpdate) and defaulting functions.
A kind without an entry needs none (yet). Each kind's rules live in their own module and are
registered here by kind name. What upstream does in admission plugins instead (and only on
create, such as a pod's service account and priority) is in ``pocketkube.apiserver.admission``.
"""

from __future__ import annotations

import base64
from collections.abc import Callable

from pocketkube.api import autoscaling, pods, scheduling, services, workloads
from pocketkube.api.validation import FieldError
from pocketkube.storage.interface import Obj

# (new object, old object or None on create) -> what is wrong with it.
Validator = Callable[[Obj, Obj | None], list[FieldError]]

NAMESPACE_NAME_LABEL = "kubernetes.io/metadata.name"


def _namespace(obj: Obj) -> None:
    obj.setdefault("spec", {}).setdefault("finalizers", ["kubernetes"])
    obj.setdefault("status", {}).setdefault("phase", "Active")
    labels = obj["metadata"].setdefault("labels", {})
    labels[NAMESPACE_NAME_LABEL] = obj["metadata"].get("name", "")


def _secret(obj: Obj) -> None:
    """``stringData`` is write-only: merged into ``data`` (base64), as upstream's conversion."""
    obj.setdefault("type", "Opaque")
    string_data = obj.pop("stringData", None)
    if isinstance(string_data, dict) and string_data:
        data = obj.get("data")
        if not isinstance(data, dict):
            data = obj["data"] = {}
        for key, value in string_data.items():
            data[key] = base64.b64encode(str(value).encode()).decode()


DEFAULTS: dict[str, Callable[[Obj], None]] = {
    "Namespace": _namespace,
    "Secret": _secret,
    "Pod": pods.default_pod,
    "Service": services.default_service,
    "Deployment": workloads.default_deployment,
    "ReplicaSet": workloads.default_replicaset,
    "StatefulSet": workloads.default_statefulset,
    "DaemonSet": workloads.default_daemonset,
    "Job": workloads.default_job,
    "CronJob": workloads.default_cronjob,
    "HorizontalPodAutoscaler": autoscaling.default_hpa,
    "PriorityClass": scheduling.default_priority_class,
}


def apply_defaults(kind: str, obj: Obj) -> None:
    """Defaults every stored object of ``kind`` gets, on create and on update alike (as upstream
    defaults every decoded object); each defaulter only fills what is missing."""
    defaulter = DEFAULTS.get(kind)
    if defaulter is not None:
        defaulter(obj)


VALIDATORS: dict[str, Validator] = {
    "Pod": pods.validate_pod,
    "Service": services.validate_service,
    "Deployment": workloads.validate_apps_workload,
    "ReplicaSet": workloads.validate_apps_workload,
    "StatefulSet": workloads.validate_apps_workload,
    "DaemonSet": workloads.validate_apps_workload,
    "Job": workloads.validate_job,
    "CronJob": workloads.validate_cronjob,
    "HorizontalPodAutoscaler": autoscaling.validate_hpa,
    "PriorityClass": scheduling.validate_priority_class,
}


def validate_kind(kind: str, obj: Obj, old: Obj | None) -> list[FieldError]:
    validator = VALIDATORS.get(kind)
    return validator(obj, old) if validator is not None else []
