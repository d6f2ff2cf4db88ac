"""Workload controllers' objects: defaults and validation of Deployments, ReplicaSets,
StatefulSets, DaemonSets, Jobs and CronJobs, as upstream's apps/v1 and batch/v1 defaulting and
validation do (their pod templates get the full pod defaults of ``pods.py``)."""

from __future__ import annotations

from typing import Any

from pocketkube.api.labels import SelectorError, selector_from_label_selector
from pocketkube.api.pods import default_pod_spec, validate_pod_spec
from pocketkube.api.validation import FieldError, invalid, not_supported, required

Obj = dict[str, Any]
JOB_RESTART_POLICIES = ("OnFailure", "Never")
IMMUTABLE = "field is immutable"


def _template_spec(obj: Obj, *path: str) -> Any:
    node: Any = obj
    for key in path:
        if not isinstance(node, dict):
            return None
        node = node.get(key)
    return node


def _defaults_with_template(obj: Obj, spec_defaults: dict[str, Any]) -> dict[str, Any]:
    spec = obj.setdefault("spec", {})
    if not isinstance(spec, dict):
        return {}
    for key, value in spec_defaults.items():
        spec.setdefault(key, value)
    default_pod_spec(_template_spec(spec, "template", "spec"))
    obj.setdefault("status", {})
    return spec


def default_deployment(obj: Obj) -> None:
    rolling = {"maxUnavailable": "25%", "maxSurge": "25%"}
    spec = _defaults_with_template(
        obj, {"replicas": 1, "revisionHistoryLimit": 10, "progressDeadlineSeconds": 600}
    )
    strategy = spec.setdefault("strategy", {}) if spec else {}
    if isinstance(strategy, dict):
        strategy.setdefault("type", "RollingUpdate")
        if strategy["type"] == "RollingUpdate":
            strategy.setdefault("rollingUpdate", dict(rolling))


def default_replicaset(obj: Obj) -> None:
    _defaults_with_template(obj, {"replicas": 1})


def default_statefulset(obj: Obj) -> None:
    spec = _defaults_with_template(
        obj,
        {
            "replicas": 1,
            "podManagementPolicy": "OrderedReady",
            "revisionHistoryLimit": 10,
            "persistentVolumeClaimRetentionPolicy": {
                "whenDeleted": "Retain",
                "whenScaled": "Retain",
            },
        },
    )
    if spec:
        strategy = spec.setdefault("updateStrategy", {"type": "RollingUpdate"})
        if isinstance(strategy, dict) and strategy.get("type") == "RollingUpdate":
            strategy.setdefault("rollingUpdate", {"partition": 0})


def default_daemonset(obj: Obj) -> None:
    spec = _defaults_with_template(obj, {"revisionHistoryLimit": 10})
    if spec:
        strategy = spec.setdefault("updateStrategy", {"type": "RollingUpdate"})
        if isinstance(strategy, dict) and strategy.get("type") == "RollingUpdate":
            strategy.setdefault("rollingUpdate", {"maxUnavailable": 1, "maxSurge": 0})


def default_job(obj: Obj) -> None:
    spec = obj.setdefault("spec", {})
    if not isinstance(spec, dict):
        return
    _default_job_spec(spec, obj.get("metadata", {}))
    obj.setdefault("status", {})


def _default_job_spec(spec: dict[str, Any], meta: dict[str, Any]) -> None:
    if "completions" not in spec and "parallelism" not in spec:
        spec["completions"], spec["parallelism"] = 1, 1
    spec.setdefault("parallelism", 1)
    # Per-index limits make the global one unbounded unless it is given (SetDefaults_Job).
    per_index = spec.get("backoffLimitPerIndex") is not None
    spec.setdefault("backoffLimit", 2147483647 if per_index else 6)
    spec.setdefault("completionMode", "NonIndexed")
    spec.setdefault("suspend", False)
    spec.setdefault("manualSelector", None)
    if spec["manualSelector"] is None:
        del spec["manualSelector"]
    # With a pod failure policy a pod is replaced only once it has failed (fully terminated).
    failure_policy = spec.get("podFailurePolicy") is not None
    spec.setdefault("podReplacementPolicy", "Failed" if failure_policy else "TerminatingOrFailed")
    default_pod_spec(_template_spec(spec, "template", "spec"))
    uid = meta.get("uid")
    if uid and not spec.get("manualSelector"):
        # The Job strategy's generated selector: the job's own uid, never matching other pods.
        template_meta = spec.setdefault("template", {}).setdefault("metadata", {})
        labels = template_meta.setdefault("labels", {})
        name = meta.get("name", "")
        for key, value in (
            ("batch.kubernetes.io/controller-uid", uid),
            ("batch.kubernetes.io/job-name", name),
            ("controller-uid", uid),
            ("job-name", name),
        ):
            labels.setdefault(key, value)
        spec.setdefault("selector", {"matchLabels": {"batch.kubernetes.io/controller-uid": uid}})


def default_cronjob(obj: Obj) -> None:
    spec = obj.setdefault("spec", {})
    if not isinstance(spec, dict):
        return
    spec.setdefault("concurrencyPolicy", "Allow")
    spec.setdefault("suspend", False)
    spec.setdefault("successfulJobsHistoryLimit", 3)
    spec.setdefault("failedJobsHistoryLimit", 1)
    default_pod_spec(_template_spec(spec, "jobTemplate", "spec", "template", "spec"))
    obj.setdefault("status", {})


def _validate_selector_and_template(obj: Obj, old: Obj | None) -> list[FieldError]:
    spec = obj.get("spec")
    if not isinstance(spec, dict):
        return [required("spec")]
    errs: list[FieldError] = []
    selector = spec.get("selector")
    labels = _template_spec(spec, "template", "metadata", "labels") or {}
    if not selector:
        errs.append(required("spec.selector"))
    else:
        try:
            parsed = selector_from_label_selector(selector)
        except SelectorError as err:
            errs.append(invalid("spec.selector", selector, str(err)))
        else:
            if parsed.empty:
                errs.append(
                    invalid("spec.selector", selector, "empty selector is invalid for deployment")
                )
            elif not parsed.matches(labels):
                errs.append(
                    invalid(
                        "spec.template.metadata.labels",
                        labels,
                        "`selector` does not match template `labels`",
                    )
                )
    if old is not None and old.get("spec", {}).get("selector") != selector:
        errs.append(invalid("spec.selector", selector, IMMUTABLE))
    errs.extend(validate_pod_spec(_template_spec(spec, "template", "spec"), "spec.template.spec"))
    replicas = spec.get("replicas")
    if replicas is not None and (not isinstance(replicas, int) or replicas < 0):
        errs.append(invalid("spec.replicas", replicas, "must be greater than or equal to 0"))
    return errs


def validate_apps_workload(obj: Obj, old: Obj | None) -> list[FieldError]:
    return _validate_selector_and_template(obj, old)


def validate_job(obj: Obj, old: Obj | None) -> list[FieldError]:
    spec = obj.get("spec")
    if not isinstance(spec, dict):
        return [required("spec")]
    errs = validate_pod_spec(_template_spec(spec, "template", "spec"), "spec.template.spec")
    policy = _template_spec(spec, "template", "spec", "restartPolicy")
    if policy not in JOB_RESTART_POLICIES:
        errs.append(not_supported("spec.template.spec.restartPolicy", policy, JOB_RESTART_POLICIES))
    if old is not None:
        old_spec = old.get("spec", {})
        for field in ("selector", "completions", "completionMode"):
            if spec.get(field) != old_spec.get(field):
                errs.append(invalid(f"spec.{field}", spec.get(field), IMMUTABLE))
    return errs
