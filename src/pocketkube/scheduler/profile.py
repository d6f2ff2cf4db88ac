"""Turn a profile's configuration into a Framework: instantiate plugins, sort them by point."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pocketkube.scheduler.config import ConfigError, ProfileConfig
from pocketkube.scheduler.framework.interface import Handle, PluginFactory
from pocketkube.scheduler.framework.runtime import POINTS, Framework, implements


def build_framework(
    profile: ProfileConfig,
    *,
    registry: Mapping[str, PluginFactory],
    handle: Handle,
    percentage_of_nodes_to_score: int | None,
) -> Framework:
    instances: dict[str, Any] = {}
    for name in profile.plugin_names():
        factory = registry.get(name)
        if factory is None:
            raise ConfigError(f"profile {profile.scheduler_name!r}: plugin {name!r} does not exist")
        try:
            instances[name] = factory(profile.args.get(name, {}), handle)
        except (TypeError, ValueError, KeyError) as err:
            raise ConfigError(f"initializing plugin {name!r}: {err}") from None
    points: dict[str, list[Any]] = {}
    for point in POINTS:
        disabled = profile.point_disabled.get(point, set())
        chosen = [
            instances[name]
            for name in profile.point_enabled.get(point, [])
            if implements(instances[name], point)
        ]
        if "*" not in disabled:
            chosen += [
                instances[name]
                for name in profile.multi_point
                if name not in disabled
                and implements(instances[name], point)
                and instances[name] not in chosen
            ]
        points[point] = chosen
    percentage = profile.percentage_of_nodes_to_score
    return Framework(
        profile_name=profile.scheduler_name,
        plugins=points,
        weights=profile.weights,
        handle=handle,
        percentage_of_nodes_to_score=(
            percentage if percentage is not None else percentage_of_nodes_to_score
        ),
    )
