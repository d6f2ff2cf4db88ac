"""kube-controller-manager: the control loops that drive the cluster toward what its objects ask.

Each controller is one module with a class that names itself (the ``--controllers`` name, as
upstream's), builds on shared informers (``informers.SharedInformers``: one list+watch per
resource for the whole process) and owns a rate-limited work queue (``base.Controller``):
informer handlers only compute a key and enqueue it, workers run ``sync(key)``, which is
level-triggered: it reads the current objects from the informers' stores, decides, and writes
through the API, so a missed event, a resync or a restart does no harm. ``manager`` holds the
registry of controllers and starts the selected ones; ``app`` is the ``pocketkube
controller-manager`` process. Controllers reach the cluster only through ``pocketkube.client``.

- ``certificates.approver`` (csrapproving): approves kubelet client CSRs after a
  SubjectAccessReview;
- ``certificates.signer`` (csrsigning): issues certificates for approved CSRs of the
  ``kubernetes.io/*`` signers with the cluster CA;
- ``bootstrap.signer`` (bootstrapsigner): signs the ``cluster-info`` ConfigMap with every
  bootstrap token that may sign;
- ``bootstrap.tokencleaner`` (tokencleaner): deletes expired bootstrap tokens.
"""
