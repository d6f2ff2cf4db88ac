"""The scheduling framework: extension points, statuses, per-cycle state, the node view.

Mirrors upstream's ``pkg/scheduler/framework``: plugins implement small protocols
(``interface.py``), return ``Status`` values (``status.py``), share per-cycle data through
``CycleState`` and read nodes as ``NodeInfo`` (``types.py``) from a ``NodeSnapshot``. The
``Framework`` (``runtime.py``) runs a profile's plugins in order for one pod.
"""
