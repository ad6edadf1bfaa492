"""The mapper's command-line options, checked before any work starts (no numpy: `map` refuses fast)."""

from __future__ import annotations

import math
from collections.abc import Iterable

from ..errors import ConfigError
from ..limits import MAX_SEED

#: ``--mode`` values (`SearchSettings.mode`).
MODES = ("auto", "exhaustive", "random")


def check_search_options(*, budget_s: float | None = None, metrics: Iterable[str] | None = None,
                         mode: str | None = None, seed: int | None = None) -> None:
    """Refuse a ``--seed`` outside numpy's 0 .. 2^32 - 1 (a negative one was accepted, and failed inside
    the random sampling of a large mapspace), a negative, zero or NaN ``--budget-s`` (it was taken as "already out of time"), an unknown
    ``--mode`` (``--mode genetic`` ran the random search) and an unknown metric (found inside every simulate
    job, after the cache was made).

    Raises:
        ConfigError: naming the option.
    """
    if seed is not None and not 0 <= seed <= MAX_SEED:
        raise ConfigError(f"the mapper seed must be between 0 and {MAX_SEED}, got {seed}", key_path="--seed",
                          fix=f"give a seed between 0 and {MAX_SEED}")
    if budget_s is not None and (isinstance(budget_s, bool) or not isinstance(budget_s, (int, float))
                                 or not math.isfinite(budget_s) or budget_s <= 0):
        raise ConfigError(f"the time budget is {budget_s}, not a number of seconds above 0", key_path="--budget-s",
                          fix="give --budget-s a positive number of seconds (e.g. 30), or leave it out for no limit")
    if metrics:
        from .search import METRICS

        for m in metrics:
            if m not in METRICS:
                raise ConfigError(f"unknown mapper metric {m!r}", key_path="--objective",
                                  fix=f"use {', '.join(METRICS)}")
    if mode is not None and mode not in MODES:
        raise ConfigError(f"unknown search mode {mode!r}", key_path="--mode", fix=f"use {', '.join(MODES)}")
