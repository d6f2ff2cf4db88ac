"""The admission chain: every mutating plugin in order, then every validating one.

As upstream, the plugins are registered by name (a plain map of factories) and run in one fixed
order — kube-apiserver's recommended order, restricted to the plugins we have — so that, for
instance, a pod in a missing namespace is refused before anything looks at its service account,
and validating plugins see the object as every mutating plugin left it.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from pocketkube.apiserver.admission import (
    defaulttolerationseconds,
    namespacelifecycle,
    priority,
    serviceaccount,
)
from pocketkube.apiserver.admission.interface import (
    Attributes,
    MutationInterface,
    ObjectReader,
    ValidationInterface,
)

Factory = Callable[[ObjectReader], object]

PLUGINS: dict[str, Factory] = {
    namespacelifecycle.NAME: namespacelifecycle.new,
    serviceaccount.NAME: serviceaccount.new,
    priority.NAME: priority.new,
    defaulttolerationseconds.NAME: defaulttolerationseconds.new,
}
ORDER = (namespacelifecycle.NAME, serviceaccount.NAME, priority.NAME, defaulttolerationseconds.NAME)


class Chain:
    """Runs the plugins' ``admit`` (those that have one), then their ``validate``."""

    def __init__(self, plugins: Sequence[object]) -> None:
        self.mutating = [p for p in plugins if isinstance(p, MutationInterface)]
        self.validating = [p for p in plugins if isinstance(p, ValidationInterface)]

    async def admit(self, attrs: Attributes) -> None:
        """Change ``attrs.obj`` as the plugins do, or raise the first plugin's refusal."""
        for mutating in self.mutating:
            await mutating.admit(attrs)
        for validating in self.validating:
            await validating.validate(attrs)


def new_chain(reader: ObjectReader, names: Sequence[str] = ORDER) -> Chain:
    """The chain of the named plugins (all of them by default), in upstream's order."""
    return Chain([PLUGINS[name](reader) for name in ORDER if name in names])
