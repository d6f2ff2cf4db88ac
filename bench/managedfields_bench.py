"""What managedFields cost per write: the bookkeeping the API server does on every create, update
and status update (``pocketkube.apiserver.fieldmanager.FieldTracker``), and one server-side apply.

Each case runs on a defaulted single-container Pod (the API server benchmark's kind of pod) and
prints microseconds per operation (p50 over several rounds).
Run ``python -m bench.managedfields_bench``.
"""

from __future__ import annotations

import argparse
import copy
import time
from collections.abc import Callable
from typing import Any

from bench.stats import percentile
from pocketkube.apiserver import fieldmanager
from pocketkube.apiserver.defaults import apply_defaults
from pocketkube.apiserver.resources_builtin import builtin_catalog

POD: dict[str, Any] = {
    "apiVersion": "v1",
    "kind": "Pod",
    "metadata": {"name": "p", "namespace": "bench", "labels": {"app": "bench"}},
    "spec": {
        "containers": [
            {
                "name": "main",
                "image": "busybox:1.36",
                "ports": [{"containerPort": 80}],
                "env": [{"name": "A", "value": "1"}],
            }
        ]
    },
}


def _writer(subresource: str = "", manager: str = "bench/1") -> fieldmanager.Writer:
    pods = builtin_catalog().get("", "v1", "pods")
    assert pods is not None
    return fieldmanager.writer_for(
        pods, custom_schema=None, query={}, user_agent=manager, subresource=subresource
    )


def _time(inputs: list[Any], operation: Callable[[Any], object]) -> float:
    start = time.perf_counter()
    for item in inputs:
        operation(item)
    return (time.perf_counter() - start) / len(inputs) * 1e6


def run(*, count: int, rounds: int) -> dict[str, float]:
    pod = copy.deepcopy(POD)
    apply_defaults("Pod", pod)
    create = fieldmanager.FieldTracker(_writer())
    status = fieldmanager.FieldTracker(_writer("status", "kubelet/1"))
    live = copy.deepcopy(pod)
    create(None, live)
    config = {k: copy.deepcopy(POD[k]) for k in ("apiVersion", "kind", "metadata", "spec")}
    applier = fieldmanager.Writer(**{**_writer().__dict__, "manager": "applier"})
    results: dict[str, list[float]] = {"create": [], "update": [], "status": [], "apply": []}
    for _ in range(rounds):
        fresh = [copy.deepcopy(pod) for _ in range(count)]
        results["create"].append(_time(fresh, lambda p: create(None, p)))
        labelled = [copy.deepcopy(live) for _ in range(count)]
        for p in labelled:
            p["metadata"]["labels"]["extra"] = "1"
        results["update"].append(_time(labelled, lambda p: create(live, p)))
        running = [copy.deepcopy(live) for _ in range(count)]
        for p in running:
            p["status"] = {"phase": "Running", "conditions": [{"type": "Ready", "status": "True"}]}
        results["status"].append(_time(running, lambda p: status(live, p)))
        results["apply"].append(
            _time(
                [live] * count,
                lambda p: fieldmanager.apply(p, config, applier, force=True),
            )
        )
    return {name: percentile(values, 50) for name, values in results.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--count", type=int, default=2_000)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    figures = run(count=args.count, rounds=args.rounds)
    print("managedFields bookkeeping per pod, µs (p50 of rounds):")
    for name, micros in figures.items():
        print(f"  {name:<8} {micros:8.1f}")


if __name__ == "__main__":
    main()
