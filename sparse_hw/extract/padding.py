"""Dimensions that defeat perfect factorization, and the padded sizes ``--pad`` uses instead.

Timeloop's mappers split every dimension into per-level factors whose product is exactly the
dimension (Timeloop v3.0.3 ``src/util/numeric.cpp``: ``Factors::CalculateAllFactors_`` and
``MultiplicativeSplitRecursive_`` enumerate the divisors; ``src/mapspaces/uber.cpp`` uses them). A size with a
large prime factor, such as C = 131 in PointNet++ (128 features + 3 coordinates), leaves only 1 x 131
splits, so no level but one can hold a useful tile. Padding to the next size whose prime factors are
all at most 7 (the "7-smooth" rule, the same rule as the mapper's ``padded_size``) restores the choice at
the cost of a little extra (zero) work: 131 -> 135 = 3^3 * 5 (+3 %).
"""

from __future__ import annotations

from collections.abc import Mapping

#: Primes a "friendly" size may contain.
FRIENDLY_PRIMES = (2, 3, 5, 7)


def largest_prime_factor(n: int) -> int:
    """Largest prime factor of ``n`` (1 for n <= 1)."""
    n = int(n)
    largest, p = 1, 2
    while p * p <= n:
        while n % p == 0:
            largest, n = p, n // p
        p += 1
    return max(largest, n) if n > 1 else largest


def friendly_size(n: int) -> int:
    """Smallest size >= ``n`` whose prime factors are all in :data:`FRIENDLY_PRIMES`."""
    m = max(int(n), 1)
    while True:
        k = m
        for p in FRIENDLY_PRIMES:
            while k % p == 0:
                k //= p
        if k == 1:
            return m
        m += 1


def awkward_dims(dims: Mapping[str, int]) -> dict[str, int]:
    """Dimensions whose size has a prime factor above 7 (e.g. C = 131, P = 13), with that size."""
    return {d: int(n) for d, n in dims.items() if int(n) > 7 and largest_prime_factor(int(n)) > 7}


def padded_dims(dims: Mapping[str, int]) -> dict[str, int]:
    """The awkward dimensions of ``dims`` mapped to their friendly (padded) size."""
    return {d: friendly_size(n) for d, n in awkward_dims(dims).items()}


__all__ = ["FRIENDLY_PRIMES", "awkward_dims", "friendly_size", "largest_prime_factor", "padded_dims"]
