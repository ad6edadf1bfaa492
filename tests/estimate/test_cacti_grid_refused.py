"""scripts/cacti_sram_grid.py: refused CACTI requests are recorded with CACTI's reason and skipped on a
rerun; answers are appended as before; a CACTI that did not finish is asked again. A fake CACTI stands in."""

from __future__ import annotations

import csv
import importlib.util
import sys
import textwrap
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]

#: the fake answers one bank, refuses 16 and 32 banks as CACTI does (a message on stderr with exit 0, an
#: ERROR line with exit 1), and is killed by a signal for 8 banks (an unfinished run, not a refusal)
FAKE = textwrap.dedent('''\
    #!{python}
    import os, signal, sys
    cfg = sys.argv[sys.argv.index("-infile") + 1]
    text = open(cfg).read()
    with open("calls.log", "a") as log:
        log.write(" ".join(text.splitlines()[-6:]) + "\\n")
    if "-UCA bank 32" in text:
        print("ERROR: no valid data array organizations found")
        sys.exit(1)
    if "-UCA bank 16" in text:
        print("Cache size must >=64", file=sys.stderr)
        sys.exit(0)
    if "-UCA bank 8" in text:
        os.kill(os.getpid(), signal.SIGKILL)
    with open(cfg + ".out", "w") as out:
        out.write("Tech node (nm), Capacity (bytes), Dynamic read energy (nJ), Dynamic write energy (nJ),"
                  " Standby leakage per bank(mW), Random cycle time (ns), Area (mm2)\\n")
        out.write("45, 256, 0.001, 0.002, 0.003, 0.4, 0.005\\n")
    ''')


@pytest.fixture()
def grid(tmp_path, monkeypatch):
    spec = importlib.util.spec_from_file_location("cacti_sram_grid", REPO / "scripts" / "cacti_sram_grid.py")
    module = importlib.util.module_from_spec(spec)
    monkeypatch.setitem(sys.modules, "cacti_sram_grid", module)  # the pool's workers find `attempt` by name
    spec.loader.exec_module(module)
    monkeypatch.setattr(module, "NODES", ((45, {"banks": (1, 8, 16, 32), "ports": (1,), "words": ((4, 32),),
                                                "depths": (64, 128)}),))
    cacti = tmp_path / "cacti_dir"
    cacti.mkdir()
    (cacti / "cacti").write_text(FAKE.format(python=sys.executable))
    (cacti / "cacti").chmod(0o755)
    (tmp_path / "default_SRAM.cfg").write_text("-cache type \"ram\"\n")
    return module, cacti, tmp_path


def _calls(cacti: Path) -> list[str]:
    log = cacti / "calls.log"
    return log.read_text().splitlines() if log.is_file() else []


def _rows(path: Path) -> list[dict[str, str]]:
    with open(path, newline="") as fh:
        return list(csv.DictReader(line for line in fh if line[0] != "#"))


def test_refused_requests_are_recorded_and_skipped_on_a_rerun(grid):
    module, cacti, tmp = grid
    out, refused = tmp / "grid.csv", tmp / "refused.csv"
    module.main(str(cacti), str(tmp / "default_SRAM.cfg"), 1, out, refused)
    assert len(_calls(cacti)) == 8  # 4 bank counts x 2 depths
    answered = _rows(out)
    assert {(r["banks"], r["size_bytes"]) for r in answered} == {("1", "256"), ("1", "512")}
    assert answered[0]["read_nJ"] == "0.001" and answered[0]["area_mm2"] == "0.005"
    reasons = {(r["banks"], r["size_bytes"]): r["reason"] for r in _rows(refused)}
    assert reasons == {("16", "256"): "Cache size must >=64", ("16", "512"): "Cache size must >=64",
                       ("32", "256"): "ERROR: no valid data array organizations found",
                       ("32", "512"): "ERROR: no valid data array organizations found"}
    assert refused.read_text().startswith("# requests CACTI 7.0")

    module.main(str(cacti), str(tmp / "default_SRAM.cfg"), 1, out, refused)
    again = _calls(cacti)[8:]
    assert len(again) == 2 and all("-UCA bank 8" in line for line in again)  # only the killed runs
    assert len(_rows(out)) == 2 and len(_rows(refused)) == 4  # nothing written twice


def test_a_cacti_that_cannot_start_refuses_nothing(grid):
    """A wrong CACTI folder must not turn the whole grid into refusals."""
    module, cacti, tmp = grid
    (cacti / "cacti").unlink()
    module.main(str(cacti), str(tmp / "default_SRAM.cfg"), 1, tmp / "grid.csv", tmp / "refused.csv")
    assert _rows(tmp / "grid.csv") == [] and _rows(tmp / "refused.csv") == []


def test_the_estimators_loader_ignores_the_refused_file():
    """The refused file sits beside the grid, which `sparse_hw.estimate.cacti` alone reads."""
    from sparse_hw.estimate import cacti

    header, by_node = cacti._lines()
    assert header[:6] == ["node_nm", "size_bytes", "block_bytes", "bus_bits", "banks", "ports"]
    assert all(len(line.split(",")) == len(header) for lines in by_node.values() for line in lines[:50])
