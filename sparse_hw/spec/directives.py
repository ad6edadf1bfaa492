"""Factor and permutation strings of mapping directives and constraints (Timeloop syntax).

Timeloop v3.0.3 `src/mapping/parser.cpp`:

* `ParseUserFactors` scans ``factors`` with the regex ``([A-Za-z]+)\\s*=*\\s*([0-9]+)(,([0-9]+))?``
  after cutting a ``#`` comment, so ``C=1 M=8``, ``C1 M8``, ``C 4``, ``R=1,S=1`` (timeloopfe's
  comma-joined form) and the residual form ``C=4,3`` are all read; 0 means the full dimension.
* `ParseUserPermutations` reads ``permutation`` one character at a time, whitespace ignored,
  innermost loop first.

timeloopfe v0.4 writes both as lists (``factors: [N=1, C=1]``, ``permutation: [N, C, P]``).
Constraint factors may also bound a factor (``C>=4``, ``C<=4``), as newer Timeloop versions accept.
"""

from __future__ import annotations

import re
from typing import Any

_FACTOR = re.compile(r"([A-Za-z]+)\s*(>=|<=|=*)\s*([0-9]+)(,([0-9]+))?")


def factors_text(value: Any) -> str:
    """The factors as one Timeloop string, whatever the input form (string, list, mapping)."""
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    if isinstance(value, dict):
        return " ".join(f"{k}={v}" for k, v in value.items())
    if isinstance(value, (list, tuple)):
        return " ".join(str(v) for v in value)
    raise ValueError(f"factors must be a string like 'C=1 M=8' or a list, not {value!r}")


def parse_factors(value: Any, *, allow_bounds: bool = False) -> tuple[dict[str, Any], dict[str, int]]:
    """Parse factors into ({dim: factor | (op, factor)}, {dim: residual}).

    Raises:
        ValueError: on text that is not a factor list, a repeated dimension, or a bound where
            only exact factors are allowed.
    """
    if isinstance(value, dict):
        factors: dict[str, Any] = {}
        for k, v in value.items():
            if isinstance(v, bool) or not isinstance(v, int) or v < 0:
                raise ValueError(f"factor {k}={v!r} must be a whole number >= 0")
            factors[str(k)] = v
        return factors, {}
    text = factors_text(value).split("#", 1)[0]
    factors = {}
    residuals: dict[str, int] = {}
    pos = 0
    for m in _FACTOR.finditer(text):
        gap = text[pos : m.start()]
        if gap.strip(" ,\t\n[]'\""):
            raise ValueError(
                f"cannot read {gap.strip()!r} in factors {text.strip()!r} (write e.g. 'C=1 M=8')"
            )
        pos = m.end()
        dim, op, num, _, residual = m.groups()
        if dim in factors:
            raise ValueError(f"dimension {dim} is given twice in factors {text.strip()!r}")
        if op in (">=", "<="):
            if not allow_bounds:
                raise ValueError(f"a mapping needs exact factors, not {dim}{op}{num}")
            factors[dim] = (op, int(num))
        else:
            factors[dim] = int(num)
        if residual is not None:
            residuals[dim] = int(residual)
    rest = text[pos:]
    if rest.strip(" ,\t\n[]'\""):
        raise ValueError(f"cannot read {rest.strip()!r} in factors {text.strip()!r} (write e.g. 'C=1 M=8')")
    return factors, residuals


def format_factors(factors: dict[str, Any], residuals: dict[str, int] | None = None) -> str:
    """Factors as Timeloop's ``C=1 M=8`` string (residuals as ``C=4,3``, bounds as ``C>=4``)."""
    parts = []
    for dim, value in factors.items():
        if isinstance(value, tuple):
            parts.append(f"{dim}{value[0]}{value[1]}")
        else:
            res = (residuals or {}).get(dim)
            parts.append(f"{dim}={value}" + (f",{res}" if res is not None else ""))
    return " ".join(parts)


def parse_permutation(value: Any, *, allow_separator: bool = False) -> list[str] | None:
    """Permutation as a list of one-letter dimensions, innermost first (``"RSP CMNQ"`` -> [R,S,P,C,...]).

    With ``allow_separator`` (constraints), ``_`` is kept: it separates the fixed innermost prefix
    from the fixed outermost suffix (`Constraints::ParsePermutations`).
    """
    if value is None:
        return None
    if isinstance(value, (list, tuple)):
        text = "".join(str(v) for v in value)
    elif isinstance(value, str):
        text = value
    else:
        raise ValueError(f"permutation must be a string like 'MCRSNPQ' or a list, not {value!r}")
    text = text.split("#", 1)[0]
    out = []
    for ch in text:
        if ch.isspace() or ch in ",[]'\"":
            continue
        if ch == "_" and allow_separator:
            out.append(ch)
            continue
        if not ch.isalpha():
            raise ValueError(f"permutation {value!r} has {ch!r}; use one letter per dimension")
        if ch in out:  # a loop order names each dimension once; a repeat was taken silently
            raise ValueError(f"permutation {value!r} names dimension {ch} twice; name each dimension once")
        out.append(ch)
    return out
