"""The scheduler's view of node selectors, affinity and tolerations: the rules themselves live
in ``api/nodeaffinity.py`` (shared with the DaemonSet and taint eviction controllers), and
``default_normalize_score`` (upstream's helper.DefaultNormalizeScore), with which the plugins
that count matches (NodeAffinity, TaintToleration) scale their counts, lives here."""

from __future__ import annotations

from pocketkube.api.nodeaffinity import (
    DO_NOT_SCHEDULE_EFFECTS,
    NO_EXECUTE,
    NO_SCHEDULE,
    NODE_NAME_FIELD,
    PREFER_NO_SCHEDULE,
    TAINT_NODE_UNSCHEDULABLE,
    FieldRequirement,
    NodeSelector,
    NodeSelectorError,
    NodeSelectorTerm,
    PreferredSchedulingTerms,
    PreferredTerm,
    RequiredNodeAffinity,
    find_untolerated_taint,
    is_empty_term,
    node_fields,
    node_labels,
    node_taints,
    parse_term,
    pod_matches_node_selector_and_affinity,
    pod_tolerations,
    preferred_node_affinity,
    required_node_affinity,
    tolerates,
    tolerations_tolerate_taint,
)
from pocketkube.scheduler.framework.interface import MAX_NODE_SCORE, NodeScore

__all__ = [
    "DO_NOT_SCHEDULE_EFFECTS",
    "NODE_NAME_FIELD",
    "NO_EXECUTE",
    "NO_SCHEDULE",
    "PREFER_NO_SCHEDULE",
    "TAINT_NODE_UNSCHEDULABLE",
    "FieldRequirement",
    "NodeSelector",
    "NodeSelectorError",
    "NodeSelectorTerm",
    "PreferredSchedulingTerms",
    "PreferredTerm",
    "RequiredNodeAffinity",
    "default_normalize_score",
    "find_untolerated_taint",
    "is_empty_term",
    "node_fields",
    "node_labels",
    "node_taints",
    "parse_term",
    "pod_matches_node_selector_and_affinity",
    "pod_tolerations",
    "preferred_node_affinity",
    "required_node_affinity",
    "tolerates",
    "tolerations_tolerate_taint",
]


def default_normalize_score(scores: list[NodeScore], *, reverse: bool) -> None:
    """Scale scores so the highest becomes 100 (or, reversed, the lowest does)."""
    highest = max((s.score for s in scores), default=0)
    if highest == 0:
        if reverse:
            for s in scores:
                s.score = MAX_NODE_SCORE
        return
    for s in scores:
        scaled = MAX_NODE_SCORE * s.score // highest
        s.score = MAX_NODE_SCORE - scaled if reverse else scaled
