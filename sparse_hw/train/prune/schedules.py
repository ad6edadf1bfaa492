"""Sparsity schedules: pure functions of the optimizer step."""

from __future__ import annotations


def _check(start: int, end: int, frequency: int) -> None:
    if end < start:
        raise ValueError(f"end step {end} is before start step {start}")
    if frequency < 1:
        raise ValueError(f"frequency must be >= 1, got {frequency}")


def _last_update(step: int, start: int, end: int, frequency: int) -> int:
    """The most recent pruning step at or before ``step`` (updates at start, start+f, ..., and at end)."""
    if step >= end:
        return end
    return start + (step - start) // frequency * frequency


def _progress(step: int, start: int, end: int, frequency: int) -> float | None:
    """Fraction of the ramp done at the last update at or before ``step``; None before ``start``."""
    _check(start, end, frequency)
    if step < start:
        return None
    span = end - start
    return 1.0 if span == 0 else (_last_update(step, start, end, frequency) - start) / span


def cubic_sparsity(step: int, *, initial: float, final: float, start: int, end: int, frequency: int) -> float:
    """Zhu & Gupta (2017, eq. 1) gradual pruning: ``s_t = s_f + (s_i - s_f) (1 - (t - t0)/(n dt))^3``.

    Sparsity is 0 before ``start``, changes only every ``frequency`` steps from ``start``, and
    stays at ``final`` from ``end`` on.
    """
    progress = _progress(step, start, end, frequency)
    if progress is None:
        return 0.0
    return final + (initial - final) * (1.0 - progress) ** 3


def linear_sparsity(step: int, *, initial: float, final: float, start: int, end: int, frequency: int) -> float:
    """Sparsity ramped linearly from ``initial`` at ``start`` to ``final`` at ``end``, updated every ``frequency``."""
    progress = _progress(step, start, end, frequency)
    if progress is None:
        return 0.0
    return initial + (final - initial) * progress


def is_update_step(step: int, *, start: int, end: int, frequency: int) -> bool:
    """Whether the masks are recomputed at ``step`` (start, every ``frequency`` steps, and at ``end``)."""
    return step == end or (start <= step < end and (step - start) % frequency == 0)


SCHEDULES = {"cubic": cubic_sparsity, "linear": linear_sparsity}
