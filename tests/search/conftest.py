"""Fixtures of the search tests (skipped without the optional `search` extra)."""

from __future__ import annotations

from pathlib import Path

import pytest

pytest.importorskip("optuna", reason="the search tests need the `search` extra (pip install -e '.[search]')")


@pytest.fixture(scope="session")
def shared_cache(tmp_path_factory) -> Path:
    """One mapping cache for every search test: cached and fresh mappings must give the same results."""
    return tmp_path_factory.mktemp("search-cache")
