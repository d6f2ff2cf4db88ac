"""resource.Quantity: the numbers of requests, limits, capacity and allocatable.

A quantity is a decimal number with an optional suffix: binary (``Ki`` … ``Ei``), decimal
(``n u m k M G T P E``) or an exponent (``e3``). Arithmetic is exact (``Fraction``); the
scheduler compares CPU in millicores and everything else in whole units, rounding up as
upstream's ``MilliValue`` and ``Value`` do.
"""

from __future__ import annotations

import math
import re
from fractions import Fraction
from functools import lru_cache

_SUFFIXES: dict[str, Fraction] = {
    "": Fraction(1),
    "n": Fraction(1, 10**9),
    "u": Fraction(1, 10**6),
    "m": Fraction(1, 10**3),
    "k": Fraction(10**3),
    "M": Fraction(10**6),
    "G": Fraction(10**9),
    "T": Fraction(10**12),
    "P": Fraction(10**15),
    "E": Fraction(10**18),
    "Ki": Fraction(2**10),
    "Mi": Fraction(2**20),
    "Gi": Fraction(2**30),
    "Ti": Fraction(2**40),
    "Pi": Fraction(2**50),
    "Ei": Fraction(2**60),
}

_QUANTITY = re.compile(
    r"(?P<sign>[+-]?)(?P<number>[0-9]+(?:\.[0-9]*)?|\.[0-9]+)"
    r"(?:(?P<suffix>[KMGTPE]i|[numkMGTPE])|[eE](?P<exp>[+-]?[0-9]+))?"
)


class QuantityError(ValueError):
    pass


@lru_cache(maxsize=4096)
def _parse_text(text: str) -> Fraction:
    match = _QUANTITY.fullmatch(text.strip())
    if match is None:
        raise QuantityError(f"quantities must match the regular expression: {text!r}")
    number = Fraction(match.group("number"))
    if match.group("exp") is not None:
        number *= Fraction(10) ** int(match.group("exp"))
    else:
        number *= _SUFFIXES[match.group("suffix") or ""]
    return -number if match.group("sign") == "-" else number


def parse_quantity(value: object) -> Fraction:
    """The exact value of a quantity given as a string or a JSON number."""
    if isinstance(value, bool):
        raise QuantityError(f"not a quantity: {value!r}")
    if isinstance(value, int):
        return Fraction(value)
    if isinstance(value, float):
        return Fraction(str(value))
    if isinstance(value, str):
        return _parse_text(value)
    raise QuantityError(f"not a quantity: {value!r}")


def value(quantity: object) -> int:
    """Whole units, rounded up (``Quantity.Value``)."""
    return math.ceil(parse_quantity(quantity))


def milli_value(quantity: object) -> int:
    """Thousandths, rounded up (``Quantity.MilliValue``): CPU in millicores."""
    return math.ceil(parse_quantity(quantity) * 1000)
