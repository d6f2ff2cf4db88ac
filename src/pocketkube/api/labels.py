"""Label selectors, parsed and matched exactly as Kubernetes does.

The grammar is ``k8s.io/apimachinery/pkg/labels/selector.go``::

    selector    ::= requirement | requirement "," selector
    requirement ::= ["!"] KEY [ ("in" | "notin") "(" VALUES ")"
                              | ("=" | "==" | "!=" | ">" | "<") VALUE ]

Whitespace separates tokens and is otherwise ignored; ``in``/``notin`` are keywords only where an
operator may stand, so ``x in (in)`` is fine. The lexer and parser keep upstream's structure
because the error messages (``unable to parse requirement: ...``, ``found 'x', expected: ...``)
come straight out of it and clients see them in 400 responses.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from enum import Enum, auto
from typing import Any

from pocketkube.api.validation import (
    FieldError,
    aggregate,
    forbidden,
    invalid,
    is_qualified_name,
    is_valid_label_value,
    not_supported,
    required,
    validate_labels,
)

IN, NOT_IN = "in", "notin"
EQUALS, DOUBLE_EQUALS, NOT_EQUALS = "=", "==", "!="
EXISTS, DOES_NOT_EXIST = "exists", "!"
GREATER_THAN, LESS_THAN = "gt", "lt"
_BINARY_OPERATORS = (IN, NOT_IN, EQUALS, DOUBLE_EQUALS, NOT_EQUALS, GREATER_THAN, LESS_THAN)
_INT64 = re.compile(r"[+-]?[0-9]+")


class SelectorError(ValueError):
    """A selector that cannot be parsed or is not valid; the API server answers 400."""


def _parse_int64(text: str) -> int | None:
    if not _INT64.fullmatch(text):
        return None
    value = int(text)
    return value if -(2**63) <= value < 2**63 else None


@dataclass(frozen=True, slots=True)
class Requirement:
    key: str
    operator: str
    values: tuple[str, ...] = ()

    def matches(self, labels: Mapping[str, str]) -> bool:
        op = self.operator
        if op in (IN, EQUALS, DOUBLE_EQUALS):
            return self.key in labels and labels[self.key] in self.values
        if op in (NOT_IN, NOT_EQUALS):
            return self.key not in labels or labels[self.key] not in self.values
        if op == EXISTS:
            return self.key in labels
        if op == DOES_NOT_EXIST:
            return self.key not in labels
        if op in (GREATER_THAN, LESS_THAN) and self.key in labels and len(self.values) == 1:
            have, want = _parse_int64(labels[self.key]), _parse_int64(self.values[0])
            if have is None or want is None:
                return False
            return have > want if op == GREATER_THAN else have < want
        return False

    def __str__(self) -> str:
        if self.operator == EXISTS:
            return self.key
        if self.operator == DOES_NOT_EXIST:
            return "!" + self.key
        values = ",".join(sorted(self.values))
        if self.operator in (IN, NOT_IN):
            return f"{self.key} {self.operator} ({values})"
        symbol = {GREATER_THAN: ">", LESS_THAN: "<"}.get(self.operator, self.operator)
        return f"{self.key}{symbol}{values}"


_IN_MSG = "for 'in', 'notin' operators, values set can't be empty"
_EXACT_MSG = "exact-match compatibility requires one single value"
_EXISTS_MSG = "values set must be empty for exists and does not exist"
_GT_MSG = "for 'Gt', 'Lt' operators, exactly one value is required"
# operator → (whether this many values is wrong, what upstream says then)
_VALUE_COUNT_RULES: dict[str, tuple[Callable[[int], bool], str]] = {
    IN: (lambda n: n == 0, _IN_MSG),
    NOT_IN: (lambda n: n == 0, _IN_MSG),
    EQUALS: (lambda n: n != 1, _EXACT_MSG),
    DOUBLE_EQUALS: (lambda n: n != 1, _EXACT_MSG),
    NOT_EQUALS: (lambda n: n != 1, _EXACT_MSG),
    EXISTS: (lambda n: n != 0, _EXISTS_MSG),
    DOES_NOT_EXIST: (lambda n: n != 0, _EXISTS_MSG),
    GREATER_THAN: (lambda n: n != 1, _GT_MSG),
    LESS_THAN: (lambda n: n != 1, _GT_MSG),
}


def new_requirement(key: str, operator: str, values: Sequence[str], path: str = "") -> Requirement:
    """Build a Requirement the way ``labels.NewRequirement`` does, raising its aggregate error."""
    sub = f"{path}." if path else ""
    errs: list[FieldError] = []
    if msgs := is_qualified_name(key):
        errs.append(invalid(f"{sub}key", key, "; ".join(msgs)))
    vals = list(values)
    rule = _VALUE_COUNT_RULES.get(operator)
    if rule is None:
        valid = (*_BINARY_OPERATORS, EXISTS, DOES_NOT_EXIST)
        errs.append(not_supported(f"{sub}operator", operator, valid))
    elif rule[0](len(vals)):
        errs.append(invalid(f"{sub}values", vals, rule[1]))
    if operator in (GREATER_THAN, LESS_THAN):
        integer_msg = "for 'Gt', 'Lt' operators, the value must be an integer"
        errs.extend(
            invalid(f"{sub}values[{i}]", value, integer_msg)
            for i, value in enumerate(vals)
            if _parse_int64(value) is None
        )
    for i, value in enumerate(vals):
        msgs = is_valid_label_value(value)
        if msgs:
            errs.append(invalid(f"{sub}values[{i}][{key}]", value, "; ".join(msgs)))
    if errs:
        raise SelectorError(aggregate(err.message for err in errs))
    return Requirement(key, operator, tuple(vals))


@dataclass(frozen=True, slots=True)
class LabelSelector:
    """An AND of requirements, kept sorted by key. ``nothing`` selects no object at all
    (a nil metav1.LabelSelector); an empty selector selects every object."""

    requirements: tuple[Requirement, ...] = ()
    nothing: bool = False

    @property
    def empty(self) -> bool:
        return not self.nothing and not self.requirements

    def matches(self, labels: Mapping[str, str]) -> bool:
        if self.nothing:
            return False
        return all(req.matches(labels) for req in self.requirements)

    def requires_exact_match(self, key: str) -> str | None:
        """The single value ``key`` must have for a match, if the selector pins one."""
        for req in self.requirements:
            if req.key == key:
                exact = req.operator in (EQUALS, DOUBLE_EQUALS, IN) and len(req.values) == 1
                return req.values[0] if exact else None
        return None

    def __str__(self) -> str:
        return ",".join(str(req) for req in self.requirements)


def _sorted(requirements: list[Requirement]) -> LabelSelector:
    return LabelSelector(tuple(sorted(requirements, key=lambda r: r.key)))


EVERYTHING = LabelSelector()
NOTHING = LabelSelector(nothing=True)


def selector_from_set(labels: Mapping[str, str]) -> LabelSelector:
    """Match exactly these key=value pairs (not validated, as upstream's SelectorFromSet)."""
    return _sorted([Requirement(k, EQUALS, (v,)) for k, v in labels.items()])


# -- the lexer ---------------------------------------------------------------------------------
class _Tok(Enum):
    ERROR = auto()
    END = auto()
    CLOSE_PAR = auto()
    COMMA = auto()
    NOT = auto()
    DOUBLE_EQUALS = auto()
    EQUALS = auto()
    GT = auto()
    IDENT = auto()
    IN = auto()
    LT = auto()
    NOT_EQUALS = auto()
    NOT_IN = auto()
    OPEN_PAR = auto()


_LITERALS = {
    ")": _Tok.CLOSE_PAR,
    ",": _Tok.COMMA,
    "!": _Tok.NOT,
    "==": _Tok.DOUBLE_EQUALS,
    "=": _Tok.EQUALS,
    ">": _Tok.GT,
    "in": _Tok.IN,
    "<": _Tok.LT,
    "!=": _Tok.NOT_EQUALS,
    "notin": _Tok.NOT_IN,
    "(": _Tok.OPEN_PAR,
}
_SPECIAL = frozenset("=!(),><")
_WHITESPACE = frozenset(" \t\r\n")
_OPERATOR_TOKENS = {
    _Tok.IN: IN,
    _Tok.EQUALS: EQUALS,
    _Tok.DOUBLE_EQUALS: DOUBLE_EQUALS,
    _Tok.GT: GREATER_THAN,
    _Tok.LT: LESS_THAN,
    _Tok.NOT_IN: NOT_IN,
    _Tok.NOT_EQUALS: NOT_EQUALS,
}


def _lex(text: str) -> list[tuple[_Tok, str]]:
    items: list[tuple[_Tok, str]] = []
    pos, n = 0, len(text)
    while True:
        while pos < n and text[pos] in _WHITESPACE:
            pos += 1
        if pos >= n or text[pos] == "\0":  # Go's lexer reads a NUL byte as end of input
            items.append((_Tok.END, ""))
            return items
        start = pos
        if text[pos] in _SPECIAL:
            # Grow the symbol while it still spells a known operator ("!" → "!=").
            best: tuple[_Tok, str] | None = None
            while pos < n and text[pos] in _SPECIAL:
                candidate = text[start : pos + 1]
                if candidate in _LITERALS:
                    best = (_LITERALS[candidate], candidate)
                elif best is not None:
                    break
                pos += 1
            if best is None:
                items.append((_Tok.ERROR, f"error expected: keyword found '{text[start:pos]}'"))
            else:
                items.append(best)
                pos = start + len(best[1])
            continue
        while pos < n and text[pos] not in _SPECIAL and text[pos] not in _WHITESPACE:
            if text[pos] == "\0":
                break
            pos += 1
        word = text[start:pos]
        items.append((_LITERALS.get(word, _Tok.IDENT), word))


# -- the parser --------------------------------------------------------------------------------
class _Parser:
    def __init__(self, text: str) -> None:
        self.items = _lex(text)
        self.pos = 0

    def peek(self, values: bool = True) -> tuple[_Tok, str]:
        return self._as_context(self.items[self.pos], values)

    def take(self, values: bool = True) -> tuple[_Tok, str]:
        item = self.items[self.pos]
        self.pos += 1
        return self._as_context(item, values)

    @staticmethod
    def _as_context(item: tuple[_Tok, str], values: bool) -> tuple[_Tok, str]:
        # Where a value may stand, the keywords "in" and "notin" are plain identifiers.
        if values and item[0] in (_Tok.IN, _Tok.NOT_IN):
            return _Tok.IDENT, item[1]
        return item

    def parse(self) -> list[Requirement]:
        requirements: list[Requirement] = []
        while True:
            tok, lit = self.peek()
            if tok == _Tok.END:
                return requirements
            if tok not in (_Tok.IDENT, _Tok.NOT):
                raise SelectorError(f"found '{lit}', expected: !, identifier, or 'end of string'")
            try:
                requirements.append(self.requirement())
            except SelectorError as err:
                raise SelectorError(f"unable to parse requirement: {err}") from None
            tok, lit = self.take()
            if tok == _Tok.END:
                return requirements
            if tok != _Tok.COMMA:
                raise SelectorError(f"found '{lit}', expected: ',' or 'end of string'")
            tok, lit = self.peek()
            if tok not in (_Tok.IDENT, _Tok.NOT):
                raise SelectorError(f"found '{lit}', expected: identifier after ','")

    def requirement(self) -> Requirement:
        operator = ""
        tok, key = self.take()
        if tok == _Tok.NOT:
            operator = DOES_NOT_EXIST
            tok, key = self.take()
        if tok != _Tok.IDENT:
            raise SelectorError(f"found '{key}', expected: identifier")
        msgs = is_qualified_name(key)
        if msgs:
            # Upstream validates with a nil field path here, which prints as "<nil>".
            raise SelectorError(invalid("<nil>", key, "; ".join(msgs)).message)
        if self.peek()[0] in (_Tok.END, _Tok.COMMA) and operator != DOES_NOT_EXIST:
            operator = EXISTS
        if operator in (EXISTS, DOES_NOT_EXIST):
            return new_requirement(key, operator, [])
        tok, lit = self.take(values=False)
        if tok not in _OPERATOR_TOKENS:
            raise SelectorError(f"found '{lit}', expected: {', '.join(_BINARY_OPERATORS)}")
        operator = _OPERATOR_TOKENS[tok]
        values = self.value_set() if operator in (IN, NOT_IN) else self.exact_value()
        return new_requirement(key, operator, sorted(values))

    def value_set(self) -> set[str]:
        tok, lit = self.take()
        if tok != _Tok.OPEN_PAR:
            raise SelectorError(f"found '{lit}' expected: '('")
        tok, lit = self.peek()
        if tok == _Tok.CLOSE_PAR:  # "()" is the set holding the empty string
            self.take()
            return {""}
        if tok not in (_Tok.IDENT, _Tok.COMMA):
            raise SelectorError(f"found '{lit}', expected: ',', ')' or identifier")
        values = self.identifiers()
        if self.take()[0] != _Tok.CLOSE_PAR:
            raise SelectorError(f"found '{lit}', expected: ')'")
        return values

    def identifiers(self) -> set[str]:
        values: set[str] = set()
        while True:
            tok, lit = self.take()
            if tok == _Tok.IDENT:
                values.add(lit)
                nxt, nlit = self.peek()
                if nxt == _Tok.CLOSE_PAR:
                    return values
                if nxt != _Tok.COMMA:
                    raise SelectorError(f"found '{nlit}', expected: ',' or ')'")
            elif tok == _Tok.COMMA:  # empty values: "(,a", "a,)", "a,,b"
                if not values:
                    values.add("")
                nxt = self.peek()[0]
                if nxt == _Tok.CLOSE_PAR:
                    values.add("")
                    return values
                if nxt == _Tok.COMMA:
                    self.take()
                    values.add("")
            else:
                raise SelectorError(f"found '{lit}', expected: ',', or identifier")

    def exact_value(self) -> set[str]:
        if self.peek()[0] in (_Tok.END, _Tok.COMMA):
            return {""}
        tok, lit = self.take()
        if tok == _Tok.IDENT:
            return {lit}
        raise SelectorError(f"found '{lit}', expected: identifier")


def parse_label_selector(text: str) -> LabelSelector:
    """Parse a ``labelSelector`` query parameter; raise SelectorError with upstream's message."""
    return _sorted(_Parser(text).parse())


# -- metav1.LabelSelector (matchLabels / matchExpressions) ------------------------------------
_EXPRESSION_OPERATORS = {
    "In": IN,
    "NotIn": NOT_IN,
    "Exists": EXISTS,
    "DoesNotExist": DOES_NOT_EXIST,
}


def validate_label_selector(obj: Mapping[str, Any] | None, path: str) -> list[FieldError]:
    """Field errors for a metav1.LabelSelector in an object (ValidateLabelSelector)."""
    if obj is None:
        return []
    errs = validate_labels(obj.get("matchLabels") or {}, f"{path}.matchLabels")
    for i, expr in enumerate(obj.get("matchExpressions") or []):
        here = f"{path}.matchExpressions[{i}]"
        operator, values = expr.get("operator", ""), expr.get("values") or []
        if operator in ("In", "NotIn"):
            if not values:
                errs.append(
                    required(
                        f"{here}.values", "must be specified when `operator` is 'In' or 'NotIn'"
                    )
                )
        elif operator in ("Exists", "DoesNotExist"):
            if values:
                errs.append(
                    forbidden(
                        f"{here}.values",
                        "may not be specified when `operator` is 'Exists' or 'DoesNotExist'",
                    )
                )
        else:
            errs.append(invalid(f"{here}.operator", operator, "not a valid selector operator"))
        key = str(expr.get("key", ""))
        errs.extend(invalid(f"{here}.key", key, msg) for msg in is_qualified_name(key))
    return errs


def selector_from_label_selector(obj: Mapping[str, Any] | None) -> LabelSelector:
    """Convert a metav1.LabelSelector (LabelSelectorAsSelector): None selects nothing, an empty
    selector selects everything; invalid content raises SelectorError."""
    if obj is None:
        return NOTHING
    match_labels = obj.get("matchLabels") or {}
    expressions = obj.get("matchExpressions") or []
    requirements = [new_requirement(k, EQUALS, [v]) for k, v in match_labels.items()]
    for expr in expressions:
        operator = expr.get("operator", "")
        if operator not in _EXPRESSION_OPERATORS:
            raise SelectorError(f'"{operator}" is not a valid label selector operator')
        values = list(expr.get("values") or [])
        requirements.append(
            new_requirement(expr.get("key", ""), _EXPRESSION_OPERATORS[operator], values)
        )
    return _sorted(requirements)
