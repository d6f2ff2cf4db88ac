"""kube-scheduler: assigns pending pods to nodes, through the API only.

Built as upstream's scheduler is: informers feed a cache of nodes and bound pods and a
scheduling queue of pending pods (active heap, backoff, unschedulable set moved by cluster
events); each pod runs one scheduling cycle through a profile's plugins (``framework/``,
``plugins/``: filter, score, reserve, permit) on a snapshot of the cache, is *assumed* on the
chosen node, and is bound in the background through ``pods/binding``. Failures become a
``PodScheduled=False`` condition and a ``FailedScheduling`` event with upstream's aggregated
message; DefaultPreemption evicts lower-priority pods when that makes room.
"""
