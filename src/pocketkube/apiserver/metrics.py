"""``/metrics``: what kube-apiserver reports about itself, in the Prometheus text format.

The names, labels and buckets are upstream's (k8s.io/apiserver/pkg/endpoints/metrics), so
dashboards and alerts written for a real cluster read ours: ``apiserver_request_total`` and
``apiserver_request_duration_seconds`` by verb, group, version, resource, subresource and scope,
``apiserver_longrunning_requests`` for open watches and streams,
``apiserver_current_inflight_requests``, ``apiserver_storage_objects``, and the usual process
metrics.

The middleware runs on every request, so it only bumps plain dict entries keyed by label tuples:
the event loop is single-threaded, so no lock is needed, and all formatting waits for a scrape.
"""

from __future__ import annotations

import asyncio
import bisect
import os
import time
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass, field

from aiohttp import web

from pocketkube.apiserver.registry import ResourceRegistry
from pocketkube.apiserver.requestinfo import RequestInfo, request_info
from pocketkube.apiserver.resources import Catalog

COMPONENT = "apiserver"
CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
# k8s.io/apiserver/pkg/endpoints/metrics: requestLatencies buckets.
DURATION_BUCKETS = (
    0.005, 0.025, 0.05, 0.1, 0.2, 0.4, 0.6, 0.8, 1.0, 1.25, 1.5, 2.0,
    3.0, 4.0, 5.0, 6.0, 8.0, 10.0, 15.0, 20.0, 30.0, 45.0, 60.0,
)  # fmt: skip
_VERBS = {
    "get": "GET",
    "list": "LIST",
    "watch": "WATCH",
    "create": "POST",
    "update": "PUT",
    "patch": "PATCH",
    "delete": "DELETE",
    "deletecollection": "DELETECOLLECTION",
}
CONNECT_SUBRESOURCES = frozenset({"exec", "attach", "portforward", "proxy"})
LONG_RUNNING_VERBS = frozenset({"WATCH", "CONNECT"})
READ_ONLY_VERBS = frozenset({"GET", "LIST", "HEAD", "OPTIONS"})
APPLY_PATCH = "application/apply-patch+yaml"

# (verb, dry_run, group, version, resource, subresource, scope)
RequestKey = tuple[str, str, str, str, str, str, str]
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@dataclass
class Histogram:
    """Per-bucket (not cumulative) counts; the last slot is +Inf."""

    counts: list[int] = field(default_factory=lambda: [0] * (len(DURATION_BUCKETS) + 1))
    total: float = 0.0
    count: int = 0

    def observe(self, value: float) -> None:
        self.counts[bisect.bisect_left(DURATION_BUCKETS, value)] += 1
        self.total += value
        self.count += 1


class Metrics:
    """The API server's counters; ``catalog`` bounds which resource names become labels."""

    def __init__(
        self, *, catalog: Catalog, registries: Mapping[tuple[str, str, str], ResourceRegistry]
    ) -> None:
        self.catalog = catalog
        self.registries = registries
        self.requests: dict[tuple[RequestKey, str], int] = {}
        self.durations: dict[RequestKey, Histogram] = {}
        self.longrunning: dict[RequestKey, int] = {}
        self.inflight = {"readOnly": 0, "mutating": 0}
        self.start_time = process_start_time()

    def key(self, request: web.Request, info: RequestInfo) -> RequestKey:
        """Upstream's cleaned labels (CleanVerb, CleanScope); unknown resources get none, so a
        client cannot grow the label space with made-up names."""
        if not info.is_resource_request:
            return (request.method, "", "", "", "", "", "")
        verb = _VERBS.get(info.verb, request.method)
        if info.subresource in CONNECT_SUBRESOURCES:
            verb = "CONNECT"
        elif verb == "PATCH" and request.content_type == APPLY_PATCH:
            verb = "APPLY"
        dry = "All" if "dryRun" in request.query and request.method != "GET" else ""
        resource = self.catalog.get(info.group, info.version, info.resource)
        if resource is None or (
            info.subresource and resource.subresource(info.subresource) is None
        ):
            return (verb, dry, "", "", "", "", "")
        if info.name or info.verb == "create":
            scope = "resource"
        elif info.namespace:
            scope = "namespace"
        else:
            scope = "cluster"
        return (verb, dry, info.group, info.version, info.resource, info.subresource, scope)

    def record(self, key: RequestKey, code: int, seconds: float) -> None:
        counter_key = (key, str(code))
        self.requests[counter_key] = self.requests.get(counter_key, 0) + 1
        histogram = self.durations.get(key)
        if histogram is None:
            histogram = self.durations[key] = Histogram()
        histogram.observe(seconds)


METRICS = web.AppKey("metrics", Metrics)


@web.middleware
async def middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    metrics = request.app.get(METRICS)
    if metrics is None:
        return await handler(request)
    started = time.perf_counter()
    info = request_info(request)
    key = metrics.key(request, info)
    long_running = key[0] in LONG_RUNNING_VERBS or (
        info.subresource == "log" and request.query.get("follow") in ("true", "1")
    )
    kind = "readOnly" if key[0] in READ_ONLY_VERBS else "mutating"
    if long_running:
        metrics.longrunning[key] = metrics.longrunning.get(key, 0) + 1
    else:
        metrics.inflight[kind] += 1
    code = 500
    try:
        response = await handler(request)
        code = response.status
        return response
    except web.HTTPException as err:
        code = err.status
        raise
    except asyncio.CancelledError:
        code = 200 if long_running else 499  # the client went away
        raise
    finally:
        if long_running:
            metrics.longrunning[key] -= 1
        else:
            metrics.inflight[kind] -= 1
        metrics.record(key, code, time.perf_counter() - started)


def add_route(
    app: web.Application,
    *,
    catalog: Catalog,
    registries: Mapping[tuple[str, str, str], ResourceRegistry],
) -> None:
    """Serve ``/metrics`` from this app and make the middleware count into it."""
    metrics = Metrics(catalog=catalog, registries=registries)
    app[METRICS] = metrics

    async def serve(request: web.Request) -> web.Response:
        text = await render(metrics)
        return web.Response(body=text.encode(), headers={"Content-Type": CONTENT_TYPE})

    app.router.add_get("/metrics", serve)


# -- the text format ---------------------------------------------------------------------------
_REQUEST_LABELS = ("verb", "dry_run", "group", "version", "resource", "subresource", "scope")


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def _labels(pairs: Iterable[tuple[str, str]]) -> str:
    # Prometheus' Go client writes label names sorted; so do we.
    inner = ",".join(f'{name}="{_escape(value)}"' for name, value in sorted(pairs))
    return "{" + inner + "}" if inner else ""


def _request_pairs(key: RequestKey, *, dry_run: bool = True) -> list[tuple[str, str]]:
    pairs = [("component", COMPONENT), *zip(_REQUEST_LABELS, key, strict=True)]
    return [p for p in pairs if dry_run or p[0] != "dry_run"]


def _header(lines: list[str], name: str, kind: str, help_text: str) -> None:
    lines.append(f"# HELP {name} {help_text}")
    lines.append(f"# TYPE {name} {kind}")


def _number(value: float) -> str:
    if value == int(value) and abs(value) < 1e15:
        return str(int(value))
    return repr(value)


async def render(metrics: Metrics) -> str:
    lines: list[str] = []
    _header(
        lines,
        "apiserver_current_inflight_requests",
        "gauge",
        "[STABLE] Maximal number of currently used inflight request limit of this apiserver "
        "per request kind in last second.",
    )
    for kind, value in sorted(metrics.inflight.items()):
        lines.append(
            f"apiserver_current_inflight_requests{_labels([('request_kind', kind)])} {value}"
        )
    _header(
        lines,
        "apiserver_longrunning_requests",
        "gauge",
        "[STABLE] Gauge of all active long-running apiserver requests broken out by verb, group, "
        "version, resource, scope and component. Not all requests are tracked this way.",
    )
    for key, value in sorted(metrics.longrunning.items()):
        labels = _labels(_request_pairs(key, dry_run=False))
        lines.append(f"apiserver_longrunning_requests{labels} {value}")
    _header(
        lines,
        "apiserver_request_duration_seconds",
        "histogram",
        "[STABLE] Response latency distribution in seconds for each verb, dry run value, group, "
        "version, resource, subresource, scope and component.",
    )
    for key, histogram in sorted(metrics.durations.items()):
        pairs = _request_pairs(key)
        cumulative = 0
        for bound, count in zip((*DURATION_BUCKETS, None), histogram.counts, strict=True):
            cumulative += count
            le = "+Inf" if bound is None else _number(bound)
            inner = _labels(pairs)[:-1] if pairs else "{"
            lines.append(
                f'apiserver_request_duration_seconds_bucket{inner},le="{le}"}} {cumulative}'
            )
        labels = _labels(pairs)
        lines.append(f"apiserver_request_duration_seconds_sum{labels} {histogram.total!r}")
        lines.append(f"apiserver_request_duration_seconds_count{labels} {histogram.count}")
    _header(
        lines,
        "apiserver_request_total",
        "counter",
        "[STABLE] Counter of apiserver requests broken out for each verb, dry run value, group, "
        "version, resource, scope, component, and HTTP response code.",
    )
    for (key, code), value in sorted(metrics.requests.items()):
        labels = _labels([*_request_pairs(key), ("code", code)])
        lines.append(f"apiserver_request_total{labels} {value}")
    await _storage_objects(metrics, lines)
    _process(metrics, lines)
    return "\n".join(lines) + "\n"


async def _storage_objects(metrics: Metrics, lines: list[str]) -> None:
    registries = list(metrics.registries.values())

    async def count(registry: ResourceRegistry) -> int:
        try:
            return await registry.storage.count(registry.key(""))
        except Exception:  # upstream reports -1 when the count fails
            return -1

    counts = await asyncio.gather(*(count(r) for r in registries))
    _header(
        lines,
        "apiserver_storage_objects",
        "gauge",
        "[STABLE] Number of stored objects at the time of last check split by kind. In case of a "
        "fetching error, the value will be -1.",
    )
    rows = sorted((r.info.qualified, n) for r, n in zip(registries, counts, strict=True))
    for resource, value in rows:
        lines.append(f"apiserver_storage_objects{_labels([('resource', resource)])} {value}")


# -- the process ---------------------------------------------------------------------------------
def process_start_time() -> float:
    """Seconds since the epoch when this process started (from /proc where there is one)."""
    try:
        with open("/proc/self/stat") as stat:
            fields = stat.read().rsplit(")", 1)[1].split()
        started_ticks = int(fields[19])  # field 22 counted from the pid
        with open("/proc/stat") as proc_stat:
            boot = next(int(line.split()[1]) for line in proc_stat if line.startswith("btime "))
        return boot + started_ticks / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError, StopIteration):
        return time.time()


def _memory() -> tuple[int, int]:
    """(resident, virtual) bytes."""
    try:
        with open("/proc/self/statm") as statm:
            size, resident = (int(x) for x in statm.read().split()[:2])
        page = os.sysconf("SC_PAGE_SIZE")
        return resident * page, size * page
    except (OSError, ValueError):
        return 0, 0


def _open_fds() -> int:
    try:
        return len(os.listdir("/proc/self/fd"))
    except OSError:
        return 0


def _process(metrics: Metrics, lines: list[str]) -> None:
    resident, virtual = _memory()
    times = os.times()
    rows = (
        ("process_cpu_seconds_total", "counter", "Total user and system CPU time spent in "
         "seconds.", times.user + times.system),
        ("process_open_fds", "gauge", "Number of open file descriptors.", _open_fds()),
        ("process_resident_memory_bytes", "gauge", "Resident memory size in bytes.", resident),
        ("process_start_time_seconds", "gauge", "Start time of the process since unix epoch in "
         "seconds.", metrics.start_time),
        ("process_virtual_memory_bytes", "gauge", "Virtual memory size in bytes.", virtual),
    )  # fmt: skip
    for name, kind, help_text, value in rows:
        _header(lines, name, kind, help_text)
        lines.append(f"{name} {_number(float(value))}")
