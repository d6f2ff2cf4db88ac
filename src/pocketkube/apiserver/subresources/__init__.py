"""Subresources and virtual resources that are not plain REST on a stored object.

- ``scale`` of deployments, replicasets, statefulsets and replicationcontrollers: an
  ``autoscaling/v1`` Scale view of the parent's replica count (``kubectl scale``, the HPA);
- ``pods/binding`` and the legacy ``bindings`` resource: how the scheduler assigns a pod to a
  node;
- ``pods/eviction``: a delete that respects PodDisruptionBudgets (``kubectl drain``).

Importing this package registers each handler in :mod:`pocketkube.apiserver.extensions`.
"""

from __future__ import annotations

from pocketkube.apiserver.subresources import binding, eviction, scale

__all__ = ["binding", "eviction", "install", "scale"]


def install() -> None:
    """Register every handler here (idempotent; importing the package already did)."""
    scale.install()
    binding.install()
    eviction.install()


install()
