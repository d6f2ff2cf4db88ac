"""KubeSchedulerConfiguration (kubescheduler.config.k8s.io/v1): profiles, plugins, weights, args.

Each profile is a schedulerName with its plugin set. ``multiPoint`` enables a plugin at every
extension point it implements; a point's own ``enabled`` list adds plugins (or re-weights
them) and its ``disabled`` list removes them (``*`` removes every default of that point), as
upstream merges user plugin sets into the defaults.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from pocketkube.api.goduration import duration_seconds

API_VERSION = "kubescheduler.config.k8s.io/v1"
KIND = "KubeSchedulerConfiguration"
DEFAULT_SCHEDULER_NAME = "default-scheduler"

# Upstream's default multiPoint plugins in order, with score weights (0: not a scorer).
# VolumeRestrictions and NodeVolumeLimits are not implemented yet.
DEFAULT_PLUGINS: tuple[tuple[str, int], ...] = (
    ("SchedulingGates", 0),
    ("PrioritySort", 0),
    ("NodeUnschedulable", 0),
    ("NodeName", 0),
    ("TaintToleration", 3),
    ("NodeAffinity", 2),
    ("NodePorts", 0),
    ("NodeResourcesFit", 1),
    ("VolumeBinding", 0),
    ("VolumeZone", 0),
    ("PodTopologySpread", 2),
    ("InterPodAffinity", 2),
    ("DefaultPreemption", 0),
    ("NodeResourcesBalancedAllocation", 1),
    ("ImageLocality", 1),
    ("DefaultBinder", 0),
)

POINT_KEYS = {
    "preEnqueue": "pre_enqueue",
    "queueSort": "queue_sort",
    "preFilter": "pre_filter",
    "filter": "filter",
    "postFilter": "post_filter",
    "preScore": "pre_score",
    "score": "score",
    "reserve": "reserve",
    "permit": "permit",
    "preBind": "pre_bind",
    "bind": "bind",
    "postBind": "post_bind",
}


class ConfigError(ValueError):
    pass


@dataclass(slots=True)
class ProfileConfig:
    scheduler_name: str = DEFAULT_SCHEDULER_NAME
    # Plugin names in order for multiPoint, and per point: (added, disabled) lists.
    multi_point: list[str] = field(default_factory=lambda: [n for n, _ in DEFAULT_PLUGINS])
    point_enabled: dict[str, list[str]] = field(default_factory=dict)
    point_disabled: dict[str, set[str]] = field(default_factory=dict)
    weights: dict[str, int] = field(default_factory=lambda: {n: w for n, w in DEFAULT_PLUGINS if w})
    args: dict[str, Mapping[str, Any]] = field(default_factory=dict)
    percentage_of_nodes_to_score: int | None = None

    def plugin_names(self) -> list[str]:
        names = list(self.multi_point)
        for enabled in self.point_enabled.values():
            names.extend(n for n in enabled if n not in names)
        return names


@dataclass(slots=True)
class LeaderElection:
    """The ``leaderElection`` block (upstream's defaults; durations in seconds)."""

    leader_elect: bool = True
    lease_duration: float = 15.0
    renew_deadline: float = 10.0
    retry_period: float = 2.0
    resource_name: str = "kube-scheduler"
    resource_namespace: str = "kube-system"


@dataclass(slots=True)
class SchedulerConfig:
    profiles: list[ProfileConfig] = field(default_factory=lambda: [ProfileConfig()])
    percentage_of_nodes_to_score: int | None = None
    pod_initial_backoff_seconds: float = 1.0
    pod_max_backoff_seconds: float = 10.0
    kubeconfig: str = ""
    # Without a configuration file the scheduler runs unelected (``pocketkube server``'s child
    # restarts at once); a file gets upstream's default, leaderElect true.
    leader_election: LeaderElection = field(
        default_factory=lambda: LeaderElection(leader_elect=False)
    )


def _names(plugin_set: Any, where: str) -> tuple[list[tuple[str, int | None]], list[str]]:
    if plugin_set is None:
        return [], []
    if not isinstance(plugin_set, Mapping):
        raise ConfigError(f"{where}: must be an object with enabled/disabled lists")
    enabled: list[tuple[str, int | None]] = []
    for item in plugin_set.get("enabled") or ():
        if not isinstance(item, Mapping) or not item.get("name"):
            raise ConfigError(f"{where}.enabled: every plugin needs a name")
        weight = item.get("weight")
        if weight is not None and (not isinstance(weight, int) or weight < 0):
            raise ConfigError(
                f"{where}.enabled[{item['name']}].weight: must be a non-negative integer"
            )
        enabled.append((str(item["name"]), weight))
    disabled = [str(item.get("name", "")) for item in plugin_set.get("disabled") or ()]
    return enabled, disabled


def _profile(obj: Mapping[str, Any], index: int) -> ProfileConfig:
    profile = ProfileConfig()
    profile.scheduler_name = str(obj.get("schedulerName") or DEFAULT_SCHEDULER_NAME)
    plugins = obj.get("plugins") or {}
    where = f"profiles[{index}].plugins"
    enabled, disabled = _names(plugins.get("multiPoint"), f"{where}.multiPoint")
    if "*" in disabled:
        profile.multi_point = []
        profile.weights = {}
    else:
        profile.multi_point = [n for n in profile.multi_point if n not in disabled]
        for name in disabled:
            profile.weights.pop(name, None)
    for name, weight in enabled:
        if name not in profile.multi_point:
            profile.multi_point.append(name)
        if weight is not None:
            profile.weights[name] = weight
    for key, point in POINT_KEYS.items():
        if key not in plugins:
            continue
        enabled, disabled = _names(plugins[key], f"{where}.{key}")
        profile.point_disabled[point] = set(disabled)
        profile.point_enabled[point] = [name for name, _ in enabled]
        if point == "score":
            for name, weight in enabled:
                profile.weights[name] = weight if weight else profile.weights.get(name, 1)
    for entry in obj.get("pluginConfig") or ():
        if not isinstance(entry, Mapping) or not entry.get("name"):
            raise ConfigError(f"profiles[{index}].pluginConfig: every entry needs a name")
        args = entry.get("args") or {}
        if not isinstance(args, Mapping):
            raise ConfigError(
                f"profiles[{index}].pluginConfig[{entry['name']}].args: must be an object"
            )
        profile.args[str(entry["name"])] = args
    percentage = obj.get("percentageOfNodesToScore")
    if percentage is not None:
        profile.percentage_of_nodes_to_score = _percentage(percentage, f"profiles[{index}]")
    return profile


def _percentage(value: Any, where: str) -> int:
    if not isinstance(value, int) or not 0 <= value <= 100:
        raise ConfigError(f"{where}.percentageOfNodesToScore: not in valid range [0-100]")
    return value


def parse_config(obj: Any) -> SchedulerConfig:
    if not isinstance(obj, Mapping):
        raise ConfigError("the configuration must be a YAML object")
    if obj.get("apiVersion") != API_VERSION or obj.get("kind") != KIND:
        raise ConfigError(
            f"no kind {obj.get('kind')!r} is registered for version {obj.get('apiVersion')!r}: "
            f"expected {KIND} in {API_VERSION}"
        )
    config = SchedulerConfig()
    profiles = obj.get("profiles")
    if profiles:
        config.profiles = [_profile(p, i) for i, p in enumerate(profiles)]
    names = [p.scheduler_name for p in config.profiles]
    for name in names:
        if names.count(name) > 1:
            raise ConfigError(f"profiles: duplicate schedulerName {name!r}")
    if obj.get("percentageOfNodesToScore") is not None:
        config.percentage_of_nodes_to_score = _percentage(obj["percentageOfNodesToScore"], "")
    initial = obj.get("podInitialBackoffSeconds", 1)
    maximum = obj.get("podMaxBackoffSeconds", 10)
    if not isinstance(initial, int) or initial <= 0:
        raise ConfigError("podInitialBackoffSeconds: must be greater than 0")
    if not isinstance(maximum, int) or maximum < initial:
        raise ConfigError(
            "podMaxBackoffSeconds: must be greater than or equal to podInitialBackoffSeconds"
        )
    config.pod_initial_backoff_seconds = float(initial)
    config.pod_max_backoff_seconds = float(maximum)
    connection = obj.get("clientConnection") or {}
    config.kubeconfig = str(connection.get("kubeconfig") or "")
    config.leader_election = _leader_election(obj.get("leaderElection"))
    return config


def _seconds(value: Any, where: str) -> float:
    """A metav1.Duration: a Go duration string such as ``15s`` or ``1m30s``."""
    try:
        seconds = duration_seconds(str(value).strip())
    except ValueError:
        seconds = 0.0
    if seconds <= 0:
        raise ConfigError(f"leaderElection.{where}: invalid duration {value!r}")
    return seconds


def _leader_election(block: Any) -> LeaderElection:
    election = LeaderElection()
    if block is None:
        return election
    if not isinstance(block, Mapping):
        raise ConfigError("leaderElection: must be an object")
    if "leaderElect" in block:
        if not isinstance(block["leaderElect"], bool):
            raise ConfigError("leaderElection.leaderElect: must be true or false")
        election.leader_elect = block["leaderElect"]
    for key, attr in (
        ("leaseDuration", "lease_duration"),
        ("renewDeadline", "renew_deadline"),
        ("retryPeriod", "retry_period"),
    ):
        if block.get(key) is not None:
            setattr(election, attr, _seconds(block[key], key))
    lock = block.get("resourceLock") or "leases"
    if lock != "leases":
        raise ConfigError(f"leaderElection.resourceLock: {lock!r} is not supported: use leases")
    election.resource_name = str(block.get("resourceName") or election.resource_name)
    election.resource_namespace = str(block.get("resourceNamespace") or election.resource_namespace)
    if election.leader_elect:
        if election.lease_duration <= election.renew_deadline:
            raise ConfigError("leaderElection.leaseDuration: must be greater than renewDeadline")
        if election.renew_deadline < election.retry_period:
            raise ConfigError(
                "leaderElection.renewDeadline: must be greater than or equal to retryPeriod"
            )
    return election


def load_config(path: Path | None) -> SchedulerConfig:
    if path is None:
        return SchedulerConfig()
    try:
        obj = yaml.safe_load(path.read_text())
    except (OSError, yaml.YAMLError) as err:
        raise ConfigError(f"{path}: {err}") from None
    return parse_config(obj)
