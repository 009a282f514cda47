"""How values look on the wire, both ways: RFC 3339 timestamps in UTC, strict JSON."""

import json
import math
from datetime import UTC, datetime


def rfc3339(moment: datetime) -> str:
    """``2025-06-01T10:30:00Z``: the UTC form partners read in every payload we send."""
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


class StrictJSONError(ValueError):
    """JSON that Python's parser would accept but that is not what its writer meant."""


class DuplicateKey(StrictJSONError):
    def __init__(self, key: str):
        super().__init__(f"The key {key!r} appears twice in one object.")
        self.key = key


class NonFiniteNumber(StrictJSONError):
    def __init__(self, constant: str):
        super().__init__(f"{constant} is not valid JSON")
        self.constant = constant


class NumberTooLarge(StrictJSONError):
    def __init__(self, text: str):
        super().__init__(f"{text} is too large for a number")
        self.text = text


def _unique_keys(pairs):
    # json.loads keeps the last of two equal keys silently.
    seen = {}
    for key, value in pairs:
        if key in seen:
            raise DuplicateKey(key)
        seen[key] = value
    return seen


def _refuse_constant(name: str):
    # NaN, Infinity and -Infinity are not JSON, and databases refuse them.
    raise NonFiniteNumber(name)


def _finite_float(text: str) -> float:
    if math.isinf(value := float(text)):
        raise NumberTooLarge(text)
    return value


def strict_json_loads(text: str | bytes, *, allow_duplicate_keys: bool = False):
    """``json.loads`` that refuses what is not JSON or cannot be stored: NaN and Infinity,
    numbers too large for a float, and (unless allowed) a key given twice in one object.

    Raises ``StrictJSONError`` for those, ``json.JSONDecodeError`` for text that does not
    parse and ``RecursionError`` for nesting too deep; all but the last are ValueErrors.
    """
    return json.loads(
        text,
        object_pairs_hook=None if allow_duplicate_keys else _unique_keys,
        parse_constant=_refuse_constant,
        parse_float=_finite_float,
    )
