"""Node lifecycle: noticing failed nodes and moving their pods off them.

Two controllers, as upstream since 1.29 (``--controllers`` names ``nodelifecycle`` and
``taint-eviction-controller``): ``controller`` (``node-controller``) marks nodes that stopped
posting status or renewing their Lease Unknown, taints them NoSchedule and — rate limited per
zone — NoExecute, and marks their pods not Ready; ``tainteviction`` deletes the pods that do
not tolerate a node's NoExecute taints, at once or when their ``tolerationSeconds`` run out.
Pods whose node is gone are pod GC's.
"""
