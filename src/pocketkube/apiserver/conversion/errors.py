"""The one way a conversion fails: a request object that cannot be converted (a 400)."""

from __future__ import annotations


class ConversionError(ValueError):
    """The object cannot be converted to the storage version (upstream: a decode error)."""
