"""statefulset: pods with stable names, hostnames and storage (upstream's
``pkg/controller/statefulset``).

A StatefulSet ``web`` of ``replicas: 3`` owns pods ``web-0``, ``web-1``, ``web-2`` (hostname =
pod name, subdomain = ``spec.serviceName``) and, per ``volumeClaimTemplates`` entry ``data``,
the claims ``data-web-0`` ... created before their pod and kept when it goes (the ``Retain``
retention policy). ``identity`` builds pods and claims, ``history`` keeps the set's
ControllerRevisions (one per template it has had; pods carry theirs in
``controller-revision-hash``), ``control`` is one pass of the ordering and update algorithm
(``OrderedReady`` or ``Parallel``; ``RollingUpdate`` with ``partition`` or ``OnDelete``), and
``controller`` the informers, handlers, ``sync`` and status.
"""

from pocketkube.controllers.statefulset.controller import StatefulSetController, build

__all__ = ["StatefulSetController", "build"]
