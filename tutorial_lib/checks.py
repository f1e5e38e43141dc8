"""Parameter checks: one clear message per bad parameter, naming what is allowed, raised before
training starts (every notebook's validation cell and every model's config use them)."""
from __future__ import annotations

import math
from typing import Any, Iterable


def check_choice(name: str, value: Any, allowed: Iterable[Any]) -> None:
    allowed = tuple(allowed)
    if value not in allowed:
        raise ValueError(f"{name}={value!r} is not one of the allowed values: {', '.join(map(repr, allowed))}")


def _finite(name: str, value: Any, kind: str) -> None:
    if isinstance(value, float) and not math.isfinite(value):
        raise ValueError(f"{name}={value!r} must be {kind}, and finite (inf and nan are not settings)")


def check_positive(name: str, value: Any, *, integer: bool = False) -> None:
    ok_type = isinstance(value, int) if integer else isinstance(value, (int, float))
    kind = "a positive integer" if integer else "a positive number"
    if ok_type and not isinstance(value, bool):
        _finite(name, value, kind)
    if isinstance(value, bool) or not ok_type or not value > 0:
        raise ValueError(f"{name}={value!r} must be {kind}")


def check_positive_int(name: str, value: Any) -> None:
    check_positive(name, value, integer=True)


def check_non_negative(name: str, value: Any) -> None:
    if isinstance(value, float):
        _finite(name, value, "a number >= 0")
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not value >= 0:
        raise ValueError(f"{name}={value!r} must be a number >= 0")


def check_fraction(name: str, value: Any, *, one: bool = False) -> None:
    """A number in [0, 1) — or [0, 1] with ``one`` — such as Adam's β1 or a moving average's decay."""
    bound = "[0, 1]" if one else "[0, 1)"
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not (0 <= value <= 1) or (value == 1 and not one):
        raise ValueError(f"{name}={value!r} must be a number in {bound}")


def check_non_negative_int(name: str, value: Any) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ValueError(f"{name}={value!r} must be an integer >= 0")
