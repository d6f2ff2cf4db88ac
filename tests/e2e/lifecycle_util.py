"""Helpers for the kubelet lifecycle e2e tests: a namespace per test, pods read with real kubectl,
container output read from the kubelet's CRI log files (``kubectl logs`` comes later).
"""

from __future__ import annotations

import datetime
import json
import subprocess
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pocketkube.runtime.process.logs import parse_record, read_log
from tests.e2e.conftest import Cluster
from tests.e2e.nodecluster import server_log

Obj = dict[str, Any]


def parse_time(text: str) -> float:
    """An RFC 3339 time (with or without fractions) as seconds since the epoch."""
    text = text.rstrip("Z")
    fraction = ""
    if "." in text:
        text, fraction = text.split(".", 1)
    moment = datetime.datetime.strptime(text, "%Y-%m-%dT%H:%M:%S").replace(tzinfo=datetime.UTC)
    return moment.timestamp() + (float("0." + fraction[:9]) if fraction else 0.0)


@dataclass
class Namespace:
    cluster: Cluster
    name: str
    resource_version: str  # the namespace's: a watch from it replays every pod event
    seen_statuses: dict[str, list[str]] = field(default_factory=dict)

    def kubectl(self, *args: str, check: bool = True, stdin: str | None = None) -> Any:
        return self.cluster.kubectl(*args, "-n", self.name, check=check, stdin=stdin)

    def apply(self, manifest: str) -> None:
        self.kubectl("apply", "-f", "-", stdin=manifest)

    def pod(self, name: str) -> Obj:
        return json.loads(self.kubectl("get", "pod", name, "-o", "json").stdout)  # type: ignore[no-any-return]

    def pods(self) -> dict[str, Obj]:
        items = json.loads(self.kubectl("get", "pods", "-o", "json").stdout)["items"]
        return {p["metadata"]["name"]: p for p in items}

    def table(self) -> dict[str, list[str]]:
        """``kubectl get pods`` rows by name: NAME READY STATUS RESTARTS AGE (RESTARTS may have
        spaces, e.g. ``3 (2s ago)``: only the first three columns are reliable)."""
        out = self.kubectl("get", "pods", "--no-headers").stdout
        rows = {}
        for line in out.splitlines():
            parts = line.split()
            if parts:
                rows[parts[0]] = parts
                self.seen_statuses.setdefault(parts[0], [])
                if not self.seen_statuses[parts[0]] or self.seen_statuses[parts[0]][-1] != parts[2]:
                    self.seen_statuses[parts[0]].append(parts[2])
        return rows

    def wait(
        self,
        check: Callable[[dict[str, Obj]], Any],
        what: str,
        timeout: float = 30,
        interval: float = 0.25,
        track: bool = False,
    ) -> dict[str, Obj]:
        """Poll the namespace's pods until ``check(pods)`` is truthy and return them; ``track``
        also records the STATUS column ``kubectl get pods`` shows (``seen_statuses``)."""
        deadline = time.monotonic() + timeout
        while True:
            if track:
                self.table()
            pods = self.pods()
            if check(pods):
                return pods
            if time.monotonic() > deadline:
                summary = {name: (p.get("status") or {}) for name, p in sorted(pods.items())}
                raise AssertionError(
                    f"timed out after {timeout:.0f} s waiting for {what}; pods' status:\n"
                    + json.dumps(summary, indent=1)[-6000:]
                    + "\nserver log tail:\n"
                    + server_log(self.cluster)[-3000:]
                )
            time.sleep(interval)

    def events(self, pod: str) -> list[Obj]:
        """The pod's events, oldest first."""
        out = self.kubectl(
            "get", "events", "--field-selector", f"involvedObject.name={pod}", "-o", "json"
        ).stdout
        items = json.loads(out)["items"]

        def when(event: Obj) -> tuple[float, int]:
            stamp = (
                event.get("eventTime")
                or event.get("firstTimestamp")
                or event.get("lastTimestamp")
                or event["metadata"]["creationTimestamp"]
            )
            return parse_time(stamp), int(event["metadata"]["resourceVersion"])

        return sorted(items, key=when)

    def wait_events(self, pod: str, count: int, timeout: float = 10) -> list[Obj]:
        """The pod's events once there are at least ``count`` (they are sent asynchronously)."""
        deadline = time.monotonic() + timeout
        while True:
            events = self.events(pod)
            if len(events) >= count:
                return events
            if time.monotonic() > deadline:
                raise AssertionError(f"{pod} has {len(events)} events, not {count}: {events}")
            time.sleep(0.2)

    def watch_replay(self) -> list[Obj]:
        """Every watch event of the namespace's pods since it was created, in order."""
        out = self.kubectl(
            "get",
            "--raw",
            f"/api/v1/namespaces/{self.name}/pods?watch=1"
            f"&resourceVersion={self.resource_version}&timeoutSeconds=1",
        ).stdout
        return [json.loads(line) for line in out.splitlines() if line.strip()]

    # -- container output ------------------------------------------------------------------

    def log_dir(self, pod: Obj, container: str) -> Path:
        meta = pod["metadata"]
        return (
            self.cluster.data_dir
            / "kubelet"
            / "logs"
            / f"{self.name}_{meta['name']}_{meta['uid']}"
            / container
        )

    def log(self, pod: Obj, container: str, restart: int = 0) -> list[str]:
        """What the container instance printed (stdout and stderr), line by line."""
        return [line for _, line in read_log(self.log_dir(pod, container) / f"{restart}.log")]

    def first_log_time(self, pod: Obj, container: str, restart: int) -> float | None:
        """When the instance's first record was written (its CRI timestamp)."""
        path = self.log_dir(pod, container) / f"{restart}.log"
        try:
            first = path.read_bytes().split(b"\n", 1)[0]
        except FileNotFoundError:
            return None
        record = parse_record(first)
        return None if record is None else parse_time(record.timestamp)

    def wait_log(
        self, pod_name: str, container: str, check: Callable[[list[str]], Any], timeout: float = 20
    ) -> list[str]:
        pod = self.pod(pod_name)
        deadline = time.monotonic() + timeout
        while True:
            lines = self.log(pod, container)
            if check(lines):
                return lines
            if time.monotonic() > deadline:
                raise AssertionError(
                    f"timed out waiting for the log of {pod_name}/{container}: {lines}"
                )
            time.sleep(0.2)


@contextmanager
def namespace(cluster: Cluster, prefix: str) -> Iterator[Namespace]:
    """A fresh namespace, once the serviceaccount controller has made its ``default``
    ServiceAccount (pods need it); its pods are deleted at the end, quickly, before the
    namespace itself."""
    name = f"{prefix}-{uuid.uuid4().hex[:6]}"
    created = json.loads(cluster.kubectl("create", "namespace", name, "-o", "json").stdout)
    deadline = time.monotonic() + 60
    while cluster.kubectl("get", "serviceaccount", "default", "-n", name, check=False).returncode:
        assert time.monotonic() < deadline, f"no default ServiceAccount in {name}"
        time.sleep(0.2)
    try:
        yield Namespace(cluster, name, created["metadata"]["resourceVersion"])
    finally:
        try:
            cluster.kubectl(
                "delete", "pod", "--all", "-n", name, "--wait=true", "--grace-period=1", check=False
            )
            cluster.kubectl("delete", "namespace", name, "--wait=false", check=False)
        except subprocess.TimeoutExpired:
            pass  # never hide the test's own outcome; the fixture's teardown stops the rest


def container_status(pod: Obj, name: str) -> Obj:
    """The container's status (init or app), or {} when the kubelet has not reported it yet."""
    status = pod.get("status") or {}
    for s in (status.get("initContainerStatuses") or []) + (status.get("containerStatuses") or []):
        if s["name"] == name:
            return s  # type: ignore[no-any-return]
    return {}


def phase(pod: Obj) -> str:
    return str((pod.get("status") or {}).get("phase", ""))


def conditions(pod: Obj) -> dict[str, Obj]:
    return {c["type"]: c for c in (pod.get("status") or {}).get("conditions") or []}


def state_of(pod: Obj, container: str) -> tuple[str, Obj]:
    """("running" | "waiting" | "terminated" | "", details) of a container's current state."""
    state = container_status(pod, container).get("state") or {}
    for key in ("running", "waiting", "terminated"):
        if key in state:
            return key, state[key] or {}
    return "", {}
