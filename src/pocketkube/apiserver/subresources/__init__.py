"""Subresources and virtual resources that are not plain REST on a stored object.

- ``scale`` of deployments, replicasets, statefulsets, replicationcontrollers and custom
  resources whose CRD has a scale subresource: an ``autoscaling/v1`` Scale view of the parent's
  replica count (``kubectl scale``, the HPA);
- ``pods/binding`` and the legacy ``bindings`` resource: how the scheduler assigns a pod to a
  node;
- ``pods/eviction``: a delete that respects PodDisruptionBudgets (``kubectl drain``);
- ``pods/ephemeralcontainers``: debugging containers added to a running pod (``kubectl debug``);
- ``namespaces/finalize``: how a terminating namespace's ``spec.finalizers`` are taken off;
- ``certificatesigningrequests/approval``: approving or denying a certificate request;
- ``pods/log``, ``exec``, ``attach``, ``portforward``: checked, then proxied to the pod's kubelet
  (``podconnect``).

Importing this package registers each handler in :mod:`pocketkube.apiserver.extensions`.
"""

from __future__ import annotations

from pocketkube.apiserver.subresources import (
    approval,
    binding,
    ephemeralcontainers,
    eviction,
    finalize,
    podconnect,
    scale,
)

__all__ = [
    "approval",
    "binding",
    "ephemeralcontainers",
    "eviction",
    "finalize",
    "install",
    "podconnect",
    "scale",
]


def install() -> None:
    """Register every handler here (idempotent; importing the package already did)."""
    scale.install()
    binding.install()
    eviction.install()
    ephemeralcontainers.install()
    finalize.install()
    approval.install()
    podconnect.install()


install()
