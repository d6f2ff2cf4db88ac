"""Bearer-token authentication and the APIs around it, wired onto one API server.

``install`` builds the token authenticators (bootstrap tokens, then service-account tokens, the
order upstream's union uses), registers the ``serviceaccounts/token`` subresource and the review
resources, and returns the chain entry that reads ``Authorization: Bearer``. The objects a token
depends on are read through the server's registries (its watch caches), and the signing key is
loaded from the PKI on first use, since the PKI is only made when the server starts.

The extension tables are per process, so the last server installed answers the token and review
requests of every server in it; one server per process, as ``pocketkube server`` runs, is exact.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

from cryptography.hazmat.primitives.asymmetric import rsa

from pocketkube.api.status import StatusError
from pocketkube.apiserver import extensions, reviews
from pocketkube.apiserver.authn import Authenticate
from pocketkube.apiserver.authn.bearer import TokenAuthenticator, bearer_authenticator
from pocketkube.apiserver.authn.bootstrap import BootstrapTokens
from pocketkube.apiserver.authn.serviceaccounts import Lookup, ServiceAccountTokens
from pocketkube.apiserver.pki import PKI
from pocketkube.apiserver.registry import ResourceRegistry
from pocketkube.apiserver.tokenrequest import token_subresource
from pocketkube.storage.interface import Obj


def install(
    *,
    registries: Mapping[tuple[str, str, str], ResourceRegistry],
    pki: Callable[[], PKI | None],
) -> list[Authenticate]:
    lookup = registry_lookup(registries)
    tokens = ServiceAccountTokens(signing_key=_cached_key(pki), lookup=lookup)
    authenticators: list[TokenAuthenticator] = [BootstrapTokens(lookup=lookup), tokens]
    extensions.SUBRESOURCES["token"] = token_subresource(tokens=tokens, lookup=lookup)
    reviews.install(token_authenticators=authenticators)
    return [bearer_authenticator(authenticators)]


def registry_lookup(registries: Mapping[tuple[str, str, str], ResourceRegistry]) -> Lookup:
    """Reads core/v1 objects by plural, namespace and name; None when there is none."""

    async def lookup(plural: str, namespace: str, name: str) -> Obj | None:
        registry = registries.get(("", "v1", plural))
        if registry is None or not name:
            return None
        try:
            return await registry.get(namespace, name)
        except StatusError as err:
            if err.code == 404:
                return None
            raise

    return lookup


def _cached_key(pki: Callable[[], PKI | None]) -> Callable[[], rsa.RSAPrivateKey]:
    loaded: dict[str, rsa.RSAPrivateKey] = {}

    def signing_key() -> rsa.RSAPrivateKey:
        current = pki()
        if current is None:
            raise RuntimeError("the service-account key is not available before the server starts")
        path = str(current.sa_key)
        if path not in loaded:
            loaded.clear()
            loaded[path] = current.load_sa_key()
        return loaded[path]

    return signing_key
