"""DaemonSets: a copy of a pod on every eligible node, kept there and rolled forward.

``controller`` reconciles each DaemonSet; ``eligibility`` decides which nodes should run its
pod (node name, nodeSelector, required node affinity, taints against the template's and the
automatic daemon tolerations); ``history`` keeps its template revisions as ControllerRevisions;
``update`` plans RollingUpdate steps within maxUnavailable / maxSurge.
"""
