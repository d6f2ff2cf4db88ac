"""The in-tree plugins, one module each, and the registry: plugin name → factory.

Each module has a ``NAME`` and a ``new(args, handle)`` factory, as upstream's plugins have a
``Name`` and a ``New``. An out-of-tree plugin is added by passing a registry with one more
entry to the Scheduler.
"""

from __future__ import annotations

from pocketkube.scheduler.framework.interface import PluginFactory
from pocketkube.scheduler.plugins import (
    balancedallocation,
    defaultbinder,
    defaultpreemption,
    imagelocality,
    interpodaffinity,
    nodeaffinity,
    nodename,
    nodeports,
    noderesources,
    nodeunschedulable,
    podtopologyspread,
    prioritysort,
    schedulinggates,
    tainttoleration,
    volumebinding,
    volumezone,
)

_MODULES = (
    schedulinggates,
    prioritysort,
    nodeunschedulable,
    nodename,
    tainttoleration,
    nodeaffinity,
    nodeports,
    noderesources,
    volumebinding,
    volumezone,
    podtopologyspread,
    interpodaffinity,
    defaultpreemption,
    balancedallocation,
    imagelocality,
    defaultbinder,
)


def in_tree_registry() -> dict[str, PluginFactory]:
    return {module.NAME: module.new for module in _MODULES}
