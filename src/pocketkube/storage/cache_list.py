"""LIST from the watch cache: which lists it can answer, and a page of its memory as a result.

Upstream decides in ``shouldDelegateList`` (``k8s.io/apiserver/pkg/storage/cacher/delegator.go``),
with ConsistentListFromCache on (beta and default since 1.31): a list goes to the datastore when
it asks for an exact revision (``resourceVersionMatch=Exact``, or the legacy form: a limit with a
resourceVersion other than "0") or continues a paged list; every other list (resourceVersion "0",
N with NotOlderThan, and unset, limited or not) is served from memory. An unset resourceVersion
is a consistent read: the cache first waits until it has caught up with the datastore's current
revision (:class:`~pocketkube.storage.cacher.Cacher` does that part).

A limited list from memory ends, when more follow, with a continue token at the cache's revision,
which the datastore serves (the cache keeps no past states), and with ``remaining_item_count``
when there is no predicate, as etcd3's GetList.
"""

from __future__ import annotations

from pocketkube.storage.codec import parse_resource_version
from pocketkube.storage.continuetoken import encode_continue
from pocketkube.storage.interface import ListOptions, ObjectList, ResourceVersionMatch
from pocketkube.storage.store import list_prefix
from pocketkube.storage.watch_cache import WatchCache


def delegate_list(opts: ListOptions) -> bool:
    """Whether the list needs the datastore itself (an exact revision or a continuation)."""
    match = opts.resource_version_match
    if match is ResourceVersionMatch.EXACT:
        return True
    if (
        match is ResourceVersionMatch.UNSET
        and opts.limit > 0
        and parse_resource_version(opts.resource_version) > 0
    ):
        return True  # the legacy exact match: a limit with resourceVersion N
    return bool(opts.continue_token)


def list_cached(cache: WatchCache, key: str, opts: ListOptions) -> ObjectList:
    """The cache's current objects under ``key`` (a prefix when ``opts.recursive``), paged.

    The items are shared with the cache: treat them as read-only (copy before mutating).
    """
    revision = cache.revision
    prefix = list_prefix(key)
    found, considered = cache.select(
        prefix if opts.recursive else key,
        recursive=opts.recursive,
        predicate=opts.predicate,
        limit=opts.limit,
    )
    limit = opts.limit
    token, remaining = "", None
    if limit and len(found) > limit:
        found = found[:limit]
        token = encode_continue(found[-1].key + "\x00", prefix, revision)
        if opts.predicate is None:
            remaining = considered - limit
    return ObjectList(
        items=[c.obj for c in found],
        resource_version=str(revision),
        continue_token=token,
        remaining_item_count=remaining,
        raw_items=[c.raw for c in found],
    )
