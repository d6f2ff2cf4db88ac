"""Workload controllers' objects: defaults and validation of Deployments, ReplicaSets,
StatefulSets, DaemonSets, Jobs and CronJobs, as upstream's apps/v1 and batch/v1 defaulting and
validation do (their pod templates get the full pod defaults of ``pods.py``)."""

from __future__ import annotations

import re
from typing import Any

from pocketkube.api import cronschedule
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


# upstream's validTimeZoneCharacters: one path component of an IANA name (legacy names may
# carry digits and '+').
_TIME_ZONE_PART = re.compile(r"^[A-Za-z.\-_0-9+]{1,14}$")
CRONJOB_NAME_MAX = 52  # job names add 11 characters ("-" and the scheduled minute)
CONCURRENCY_POLICIES = ("Allow", "Forbid", "Replace")
_NON_NEGATIVE_CRONJOB_FIELDS = (
    "startingDeadlineSeconds",
    "successfulJobsHistoryLimit",
    "failedJobsHistoryLimit",
)


def validate_cronjob(obj: Obj, old: Obj | None) -> list[FieldError]:
    """Upstream's ValidateCronJobCreate/Update: the schedule parses (robfig/cron's messages), no
    ``TZ=`` in it (unless the stored one had it), a real time zone, the job template's pods."""
    spec = obj.get("spec")
    if not isinstance(spec, dict):
        return [required("spec")]
    old_spec = (old or {}).get("spec") or {}
    errs: list[FieldError] = []
    name = str((obj.get("metadata") or {}).get("name") or "")
    if old is None and len(name) > CRONJOB_NAME_MAX:
        errs.append(invalid("metadata.name", name, "must be no more than 52 characters"))
    errs.extend(_validate_schedule(spec, old_spec if old is not None else None))
    for field in (
        "startingDeadlineSeconds",
        "successfulJobsHistoryLimit",
        "failedJobsHistoryLimit",
    ):
        value = spec.get(field)
        if isinstance(value, int) and value < 0:
            errs.append(invalid(f"spec.{field}", value, "must be greater than or equal to 0"))
    if old is None or old_spec.get("timeZone") != spec.get("timeZone"):
        errs.extend(_validate_time_zone(spec.get("timeZone")))
    policy = spec.get("concurrencyPolicy")
    if policy == "":
        errs.append(required("spec.concurrencyPolicy"))
    elif policy not in CONCURRENCY_POLICIES:
        errs.append(not_supported("spec.concurrencyPolicy", policy, CONCURRENCY_POLICIES))
    template = "spec.jobTemplate.spec.template.spec"
    pod_spec = _template_spec(spec, "jobTemplate", "spec", "template", "spec")
    errs.extend(validate_pod_spec(pod_spec, template))
    restart = _template_spec(spec, "jobTemplate", "spec", "template", "spec", "restartPolicy")
    if restart not in JOB_RESTART_POLICIES:
        errs.append(not_supported(f"{template}.restartPolicy", restart, JOB_RESTART_POLICIES))
    return errs


def _validate_schedule(spec: Obj, old_spec: Obj | None) -> list[FieldError]:
    schedule = spec.get("schedule")
    if not isinstance(schedule, str) or not schedule:
        return [required("spec.schedule")]
    errs: list[FieldError] = []
    try:
        cronschedule.parse(schedule)
    except cronschedule.ScheduleError as err:
        errs.append(invalid("spec.schedule", schedule, str(err)))
    allow_tz = old_spec is not None and "TZ" in str(old_spec.get("schedule") or "")
    if allow_tz and "TZ" in schedule and spec.get("timeZone") is not None:
        errs.append(
            invalid(
                "spec.schedule",
                schedule,
                "cannot use both timeZone field and TZ or CRON_TZ in schedule",
            )
        )
    elif not allow_tz and "TZ" in schedule:
        errs.append(
            invalid(
                "spec.schedule",
                schedule,
                "cannot use TZ or CRON_TZ in schedule, use timeZone field instead",
            )
        )
    return errs


def _validate_time_zone(zone: Any) -> list[FieldError]:
    if zone is None:
        return []
    path = "spec.timeZone"
    if zone == "":
        return [invalid(path, zone, "timeZone must be nil or non-empty string")]
    text = str(zone)
    for part in text.split("/"):
        if part in (".", "..") or part.startswith("-") or not _TIME_ZONE_PART.match(part):
            return [invalid(path, zone, f"unknown time zone {text}")]
    if text.lower() == "local":
        return [
            invalid(
                path,
                zone,
                "timeZone must be an explicit time zone as defined in "
                "https://www.iana.org/time-zones",
            )
        ]
    try:
        cronschedule.load_zone(text)
    except cronschedule.UnknownTimeZone as err:
        return [invalid(path, zone, str(err))]
    return []
