"""The SQLite result cache never serves a damaged or edited entry and never blocks a run (issue 15, item 11).

* each payload is stored with the sha256 of (key, payload): an edited entry is a miss, with a warning;
* a damaged database file is moved aside and rebuilt empty, with a warning, instead of failing every run;
* a file that is no SQLite database at all is never touched (exit 2 naming it).
"""

from __future__ import annotations

import json
import logging
import sqlite3
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from sparse_hw.cli import app
from sparse_hw.errors import ConfigError
from sparse_hw.sweep import ResultCache
from tests.reliability.tiny import stable_results, tiny_project

runner = CliRunner()


def _fill(path: Path, n: int = 200) -> ResultCache:
    cache = ResultCache(path)
    for i in range(n):
        cache.put(f"key{i:04d}", {"evaluation": {"energy_pj": float(i)}, "mapping_yaml": "x" * 2000})
    return cache


def _edit(path: Path, key: str, change) -> None:
    """Rewrite one entry's payload as a hand edit would: valid JSON, checksum not updated."""
    db = sqlite3.connect(path)
    payload = json.loads(db.execute("SELECT payload FROM results WHERE key = ?", (key,)).fetchone()[0])
    change(payload)
    db.execute("UPDATE results SET payload = ? WHERE key = ?", (json.dumps(payload), key))
    db.commit()
    db.close()


def _damage(path: Path) -> None:
    """Overwrite the table's pages with garbage, keeping the SQLite header (deep corruption)."""
    data = bytearray(path.read_bytes())
    page = int.from_bytes(data[16:18], "big")
    assert len(data) > 20 * page
    data[2 * page: len(data) - page] = b"\xa5" * (len(data) - 3 * page)
    path.write_bytes(bytes(data))


def test_an_edited_entry_is_a_miss_with_a_warning(tmp_path: Path, caplog) -> None:
    path = tmp_path / "c.sqlite"
    _fill(path, 3).close()
    _edit(path, "key0001", lambda p: p["evaluation"].update(energy_pj=-1.0))
    cache = ResultCache(path)
    assert cache.get("key0000") == {"evaluation": {"energy_pj": 0.0}, "mapping_yaml": "x" * 2000}
    with caplog.at_level(logging.WARNING, logger="sparse_hw.sweep"):
        assert cache.get("key0001") is None
    assert "checksum" in caplog.text
    cache.put("key0001", {"evaluation": {"energy_pj": 1.0}})  # recomputed and stored again: served
    assert cache.get("key0001") == {"evaluation": {"energy_pj": 1.0}}
    # a payload moved to another key does not match that key's checksum either
    db = sqlite3.connect(path)
    moved = db.execute("SELECT payload, sha256 FROM results WHERE key = 'key0000'").fetchone()
    db.execute("UPDATE results SET payload = ?, sha256 = ? WHERE key = 'key0002'", moved)
    db.commit()
    db.close()
    assert cache.get("key0002") is None
    cache.close()


def test_a_cache_from_before_checksums_is_upgraded_and_its_entries_recomputed(tmp_path: Path) -> None:
    path = tmp_path / "old.sqlite"
    db = sqlite3.connect(path)
    db.execute("CREATE TABLE results (key TEXT PRIMARY KEY, payload TEXT NOT NULL, created REAL)")
    db.execute("INSERT INTO results VALUES ('k', '{\"evaluation\": {}}', 0)")
    db.commit()
    db.close()
    cache = ResultCache(path)
    assert cache.get("k") is None  # unverifiable
    cache.put("k", {"evaluation": {}})
    assert cache.get("k") == {"evaluation": {}}
    cache.close()


def test_a_damaged_database_is_moved_aside_and_rebuilt(tmp_path: Path, caplog) -> None:
    path = tmp_path / "c.sqlite"
    _fill(path).close()
    _damage(path)
    with caplog.at_level(logging.WARNING, logger="sparse_hw.sweep"):
        cache = ResultCache(path)
    assert "damaged" in caplog.text
    assert len(cache) == 0
    cache.put("k", {"a": 1})
    assert cache.get("k") == {"a": 1}
    cache.close()
    aside = [p for p in tmp_path.iterdir() if p.name.startswith("c.sqlite.corrupt-")]
    assert len(aside) == 1 and aside[0].stat().st_size > 0  # kept, not deleted
    with pytest.raises(sqlite3.DatabaseError):  # the moved file is indeed damaged
        sqlite3.connect(aside[0]).execute("SELECT payload FROM results").fetchall()


def test_a_file_that_is_no_database_is_left_alone(tmp_path: Path) -> None:
    path = tmp_path / "layers.csv"
    path.write_text("order,layer\n0,conv1\n")
    with pytest.raises(ConfigError, match="not a SQLite database") as info:
        ResultCache(path)
    assert str(path) in info.value.render() and info.value.fix
    assert path.read_text() == "order,layer\n0,conv1\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["layers.csv"]


def test_simulate_recomputes_edited_entries_and_survives_a_damaged_cache(tmp_path: Path, caplog) -> None:
    _, ex = tiny_project(tmp_path / "proj")
    cache = tmp_path / "cache.sqlite"
    args = ["simulate", str(ex), "--arch", "eyeriss_like", "--jobs", "1", "--cache", str(cache), "--out"]
    first = runner.invoke(app, [*args, str(tmp_path / "a")])
    assert first.exit_code == 0, first.output
    db = sqlite3.connect(cache)
    keys = [k for (k,) in db.execute("SELECT key FROM results")]
    db.close()
    assert len(keys) == 5
    _edit(cache, keys[0], lambda p: p["evaluation"].update(energy_pj=p["evaluation"]["energy_pj"] * 10))
    with caplog.at_level(logging.WARNING, logger="sparse_hw.sweep"):
        edited = runner.invoke(app, [*args, str(tmp_path / "b")])
    assert edited.exit_code == 0, edited.output
    assert "does not match its checksum" in caplog.text
    assert stable_results(tmp_path / "b") == stable_results(tmp_path / "a")  # the edit was not served
    # deep corruption: a warning and a rebuilt cache, not an error on every run
    pad = ResultCache(cache)
    for i in range(60):
        pad.put(f"pad{i}", {"x": "y" * 3000})
    pad.close()
    _damage(cache)
    caplog.clear()
    for name in ("c", "d"):
        with caplog.at_level(logging.WARNING, logger="sparse_hw.sweep"):
            again = runner.invoke(app, [*args, str(tmp_path / name)])
        assert again.exit_code == 0, again.output
        assert stable_results(tmp_path / name) == stable_results(tmp_path / "a")
    assert caplog.text.count("was damaged") == 1
    assert sum(p.name.startswith("cache.sqlite.corrupt-") for p in tmp_path.iterdir()) == 1  # rebuilt once
    assert len(pd.read_csv(tmp_path / "d" / "results.csv")) == 5
