"""Tables for the apps/v1 and batch/v1 workload kinds, as upstream's ``printDeployment``,
``printReplicaSet``, ``printStatefulSet``, ``printDaemonSet``, ``printJob`` and ``printCronJob``.
Every one of them ends with the wide columns Containers and Images taken from the pod template.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pocketkube.apiserver.tables.common import (
    AGE,
    CONTAINERS,
    IMAGES,
    NAME,
    Cells,
    Column,
    Obj,
    Printer,
    age_of,
    as_int,
    as_list,
    bool_ptr,
    container_cells,
    doc,
    format_label_selector,
    format_labels,
    get,
    human_duration,
    name_of,
    parse_time,
    selector_string,
    since,
)

_TEMPLATE_CONTAINERS = ("spec", "template", "spec", "containers")


def _replicas(obj: Obj) -> int:
    # spec.replicas defaults to 1 for all of these kinds
    return as_int(get(obj, "spec", "replicas"), 1)


def _status(obj: Obj, field: str) -> int:
    return as_int(get(obj, "status", field))


def deployment_cells(obj: Obj, now: datetime) -> Cells:
    names, images = container_cells(get(obj, *_TEMPLATE_CONTAINERS))
    return [
        name_of(obj),
        f"{_status(obj, 'readyReplicas')}/{_replicas(obj)}",
        _status(obj, "updatedReplicas"),
        _status(obj, "availableReplicas"),
        age_of(obj, now),
        names,
        images,
        selector_string(get(obj, "spec", "selector"), empty=""),
    ]


def replica_set_cells(obj: Obj, now: datetime) -> Cells:
    names, images = container_cells(get(obj, *_TEMPLATE_CONTAINERS))
    return [
        name_of(obj),
        _replicas(obj),
        _status(obj, "replicas"),
        _status(obj, "readyReplicas"),
        age_of(obj, now),
        names,
        images,
        format_label_selector(get(obj, "spec", "selector")),
    ]


def stateful_set_cells(obj: Obj, now: datetime) -> Cells:
    names, images = container_cells(get(obj, *_TEMPLATE_CONTAINERS))
    ready = f"{_status(obj, 'readyReplicas')}/{_replicas(obj)}"
    return [name_of(obj), ready, age_of(obj, now), names, images]


def daemon_set_cells(obj: Obj, now: datetime) -> Cells:
    names, images = container_cells(get(obj, *_TEMPLATE_CONTAINERS))
    return [
        name_of(obj),
        _status(obj, "desiredNumberScheduled"),
        _status(obj, "currentNumberScheduled"),
        _status(obj, "numberReady"),
        _status(obj, "updatedNumberScheduled"),
        _status(obj, "numberAvailable"),
        format_labels(get(obj, "spec", "template", "spec", "nodeSelector")),
        age_of(obj, now),
        names,
        images,
        format_label_selector(get(obj, "spec", "selector")),
    ]


def _has_job_condition(job: Obj, condition_type: str) -> bool:
    """hasJobCondition: the first condition of that type decides."""
    for cond in as_list(get(job, "status", "conditions")):
        if get(cond, "type") == condition_type:
            return bool(get(cond, "status") == "True")
    return False


def job_status(job: Obj) -> str:
    if _has_job_condition(job, "Complete"):
        return "Complete"
    if _has_job_condition(job, "Failed"):
        return "Failed"
    if get(job, "metadata", "deletionTimestamp") is not None:
        return "Terminating"
    if _has_job_condition(job, "Suspended"):
        return "Suspended"
    if _has_job_condition(job, "FailureTarget"):
        return "FailureTarget"
    return "Running"


def job_completions(job: Obj) -> str:
    succeeded = _status(job, "succeeded")
    completions = get(job, "spec", "completions")
    if completions is not None:
        return f"{succeeded}/{as_int(completions)}"
    parallelism = as_int(get(job, "spec", "parallelism"))
    if parallelism > 1:
        return f"{succeeded}/1 of {parallelism}"
    return f"{succeeded}/1"


def job_duration(job: Obj, now: datetime) -> str:
    start = parse_time(get(job, "status", "startTime"))
    if start is None:
        return ""
    end = parse_time(get(job, "status", "completionTime"))
    return human_duration((end or now) - start)


def job_cells(job: Obj, now: datetime) -> Cells:
    names, images = container_cells(get(job, *_TEMPLATE_CONTAINERS))
    return [
        name_of(job),
        job_status(job),
        job_completions(job),
        job_duration(job, now),
        age_of(job, now),
        names,
        images,
        format_label_selector(get(job, "spec", "selector")),
    ]


def cron_job_cells(obj: Obj, now: datetime) -> Cells:
    job_spec: Any = get(obj, "spec", "jobTemplate", "spec")
    names, images = container_cells(get(job_spec, "template", "spec", "containers"))
    last_schedule = get(obj, "status", "lastScheduleTime")
    return [
        name_of(obj),
        str(get(obj, "spec", "schedule") or ""),
        str(get(obj, "spec", "timeZone") or "<none>"),
        bool_ptr(get(obj, "spec", "suspend")),
        len(as_list(get(obj, "status", "active"))),
        "<none>" if last_schedule is None else since(last_schedule, now),
        age_of(obj, now),
        names,
        images,
        format_label_selector(get(job_spec, "selector")),
    ]


def _selector(key: str) -> Column:
    return Column("Selector", "string", doc(key), 1)


PRINTERS = {
    "Deployment": Printer(
        (
            NAME,
            Column("Ready", "string", "Number of the pod with ready state"),
            Column("Up-to-date", "string", doc("DeploymentStatus.updatedReplicas")),
            Column("Available", "string", doc("DeploymentStatus.availableReplicas")),
            AGE,
            CONTAINERS,
            IMAGES,
            _selector("DeploymentSpec.selector"),
        ),
        deployment_cells,
    ),
    "ReplicaSet": Printer(
        (
            NAME,
            Column("Desired", "integer", doc("ReplicaSetSpec.replicas")),
            Column("Current", "integer", doc("ReplicaSetStatus.replicas")),
            Column("Ready", "integer", doc("ReplicaSetStatus.readyReplicas")),
            AGE,
            CONTAINERS,
            IMAGES,
            _selector("ReplicaSetSpec.selector"),
        ),
        replica_set_cells,
    ),
    "StatefulSet": Printer(
        (
            NAME,
            Column("Ready", "string", "Number of the pod with ready state"),
            AGE,
            CONTAINERS,
            IMAGES,
        ),
        stateful_set_cells,
    ),
    "DaemonSet": Printer(
        (
            NAME,
            Column("Desired", "integer", doc("DaemonSetStatus.desiredNumberScheduled")),
            Column("Current", "integer", doc("DaemonSetStatus.currentNumberScheduled")),
            Column("Ready", "integer", doc("DaemonSetStatus.numberReady")),
            Column("Up-to-date", "integer", doc("DaemonSetStatus.updatedNumberScheduled")),
            Column("Available", "integer", doc("DaemonSetStatus.numberAvailable")),
            Column("Node Selector", "string", doc("PodSpec.nodeSelector")),
            AGE,
            CONTAINERS,
            IMAGES,
            _selector("DaemonSetSpec.selector"),
        ),
        daemon_set_cells,
    ),
    "Job": Printer(
        (
            NAME,
            Column("Status", "string", "Status of the job."),
            Column("Completions", "string", doc("JobStatus.succeeded")),
            Column("Duration", "string", "Time required to complete the job."),
            AGE,
            CONTAINERS,
            IMAGES,
            _selector("JobSpec.selector"),
        ),
        job_cells,
    ),
    "CronJob": Printer(
        (
            NAME,
            Column("Schedule", "string", doc("CronJobSpec.schedule")),
            Column("Timezone", "string", doc("CronJobSpec.timeZone")),
            Column("Suspend", "boolean", doc("CronJobSpec.suspend")),
            Column("Active", "integer", doc("CronJobStatus.active")),
            Column("Last Schedule", "string", doc("CronJobStatus.lastScheduleTime")),
            AGE,
            CONTAINERS,
            IMAGES,
            _selector("JobSpec.selector"),
        ),
        cron_job_cells,
    ),
}
