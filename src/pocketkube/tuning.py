"""Process-wide tuning shared by every long-running pocketkube process.

CPython's cyclic garbage collector runs a full collection whenever enough new container objects
survive, and a control plane allocates millions of small dicts (decoded objects) that it keeps in
caches. With the default thresholds, decoding a list of 10,000 pods spends most of its time in the
collector (docs/performance.md); higher thresholds keep its cost bounded while still reclaiming
cycles. ``gc.freeze()`` after start-up moves everything loaded so far out of the collector's view.
"""

from __future__ import annotations

import gc

GC_THRESHOLDS = (50_000, 50, 100)


def tune_gc() -> None:
    gc.set_threshold(*GC_THRESHOLDS)


def freeze_startup_objects() -> None:
    gc.collect()
    gc.freeze()
