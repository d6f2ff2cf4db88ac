"""What every controller that owns pods shares (upstream's ``pkg/controller/controller_utils.go``
and ``controller_ref_manager.go``); the ReplicaSet, ReplicationController, StatefulSet, Job and
DaemonSet controllers build on it.

- ``PodControl``: creates and deletes pods through the client and records upstream's events on
  the owner (``SuccessfulCreate`` "Created pod: x", ``FailedCreate`` "Error creating: ...",
  ``SuccessfulDelete`` "Deleted pod: x", ``FailedDelete`` "Error deleting: ...").
  ``pod_from_template(template, owner, resource)`` builds the pod it creates: the template's
  labels, annotations, finalizers and spec, ``generateName: <owner>-`` and a controller
  ``ownerReference`` (``controller_ref_for``).
- ``ControllerExpectations``: a controller's informer lags behind its own writes, so after asking
  for N creations it must not create again until it has *seen* them. ``expect_creations`` /
  ``expect_deletions`` before writing, ``creation_observed`` / ``deletion_observed`` from the
  pod informer's add/delete handlers (and ``lower_expectations`` for writes that failed), and
  ``satisfied(key)`` at the start of a sync: only then may it compute a new diff. A record older
  than five minutes counts as satisfied, so a lost event only delays.
- ``PodControllerRefManager.claim_pods``: the pods a controller owns: those with its controller
  reference that still match its selector, plus orphans that match, adopted by patching an
  ``ownerReference`` in (after a live GET shows the owner is still there and not being deleted);
  owned pods that stopped matching are released by patching the reference out.
- Helpers: ``ensure_namespace_index`` (shared pod informers indexed by namespace),
  ``is_pod_active``, ``is_pod_ready``, ``is_pod_available``, ``controller_ref``,
  ``get_pods_to_delete`` (upstream's ``ActivePodsWithRanks`` order: the first pods in it are the
  cheapest to lose) and ``slow_start_batch`` (1, 2, 4, ... at once, stopping at the first
  error, so a controller whose pods all fail does not flood the API server).

Import from the package (``from pocketkube.controllers import podcontrol as pc``); the modules
are ``state`` (pod state, owner references), ``control`` (``PodControl``), ``expectations``
(expectations, slow start), ``ranking`` (deletion order) and ``refmanager`` (adoption).
"""

from pocketkube.api.timestamps import parse_time
from pocketkube.controllers.podcontrol.control import (
    FAILED_CREATE,
    FAILED_DELETE,
    SUCCESSFUL_CREATE,
    SUCCESSFUL_DELETE,
    PodControl,
    pod_from_template,
)
from pocketkube.controllers.podcontrol.expectations import (
    EXPECTATIONS_TIMEOUT,
    SLOW_START_INITIAL_BATCH_SIZE,
    ControllerExpectations,
    slow_start_batch,
)
from pocketkube.controllers.podcontrol.ranking import deletion_rank_key, get_pods_to_delete
from pocketkube.controllers.podcontrol.refmanager import AdoptionError, PodControllerRefManager
from pocketkube.controllers.podcontrol.state import (
    POD_DELETION_COST,
    controller_ref,
    controller_ref_for,
    describe,
    ensure_namespace_index,
    is_pod_active,
    is_pod_available,
    is_pod_ready,
    ready_since,
    resolve_controller_ref,
)

__all__ = [
    "EXPECTATIONS_TIMEOUT",
    "FAILED_CREATE",
    "FAILED_DELETE",
    "POD_DELETION_COST",
    "SLOW_START_INITIAL_BATCH_SIZE",
    "SUCCESSFUL_CREATE",
    "SUCCESSFUL_DELETE",
    "AdoptionError",
    "ControllerExpectations",
    "PodControl",
    "PodControllerRefManager",
    "controller_ref",
    "controller_ref_for",
    "deletion_rank_key",
    "describe",
    "ensure_namespace_index",
    "get_pods_to_delete",
    "is_pod_active",
    "is_pod_available",
    "is_pod_ready",
    "parse_time",
    "pod_from_template",
    "ready_since",
    "resolve_controller_ref",
    "slow_start_batch",
]
