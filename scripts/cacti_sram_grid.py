"""Tabulate CACTI 7's SRAM figures the way Accelergy's CACTI plug-in asks for them.

Writes (appends, resumable) ``sparse_hw/estimate/data/cacti_sram.csv``: one row per CACTI request
(technology, size in bytes, block size in bytes, output bus width, UCA banks, read-write ports) with
CACTI's own outputs (dynamic read/write energy, standby leakage per bank, random cycle time, area).
`sparse_hw.estimate.primitives` interpolates these figures; nothing here runs at estimate time.

Needs a CACTI 7.0 build (https://github.com/HewlettPackard/cacti, commit 1ffd8df, built with ``make -f cacti.mk TAG=opt
OPT='-O2 -DNTHREADS=1'`` in an ``obj_opt`` folder) and
the plug-in's template configuration (``default_SRAM.cfg`` of
https://github.com/Accelergy-Project/accelergy-cacti-plug-in, commit 643e6fc, the 0.3-era plug-in):
the template's settings are appended with the request lines the plug-in writes (size, ports, block
size, technology, bus width, UCA banks), as its ``cacti_wrapper_for_SRAM`` does. Usage:
``python scripts/cacti_sram_grid.py CACTI_DIR default_SRAM.cfg [--jobs N]``; with ``--check N [--seed S]
[--out CSV] [--nodes 45,55,...]`` it writes ``data/cacti_sram_check.csv`` (or CSV) instead: N random
off-grid SRAMs, to measure the interpolation (``cacti_sram_check2.csv``: ``--check 60 --seed 29 --out
sparse_hw/estimate/data/cacti_sram_check2.csv --nodes 45,45,40,28,32,50,55,60,65,72,80,90,22,36``).

Requests CACTI refuses (it finishes without an output row: "no valid data array organizations found",
"Cache size must >=64") go to ``data/cacti_sram_refused.csv`` with CACTI's last line as the reason, so a
rerun asks only what is neither tabulated nor refused; nothing at estimate time reads that file. A
request that times out, is killed or cannot start CACTI is not recorded: the next run asks it again.
"""

from __future__ import annotations

import csv
import os
import subprocess
import sys
import tempfile
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

OUT = Path(__file__).resolve().parents[1] / "sparse_hw" / "estimate" / "data" / "cacti_sram.csv"
FIELDS = ("node_nm", "size_bytes", "block_bytes", "bus_bits", "banks", "ports", "read_nJ", "write_nJ",
          "leak_per_bank_mW", "cycle_ns", "area_mm2")
#: the files' first line: where every row comes from
PROVENANCE = ("# CACTI 7.0 (github.com/HewlettPackard/cacti 1ffd8df, built -O2) run on requests as "
              "accelergy-cacti-plug-in 643e6fc makes them (its default_SRAM.cfg + size/ports/block/technology/bus/UCA "
              "bank lines); written by scripts/cacti_sram_grid.py\n")
REFUSED = OUT.with_name("cacti_sram_refused.csv")
REFUSED_FIELDS = (*FIELDS[:6], "reason")
REFUSED_PROVENANCE = ("# requests CACTI 7.0 (1ffd8df) finished without an output row for, in the configuration of "
                      "cacti_sram.csv, with the last line it printed; scripts/cacti_sram_grid.py skips them on a rerun\n")

#: (block bytes, bus bits): the plug-in asks for a block of max(width // 8, 4) bytes and a bus of
#: 8 * (width // 8) bits, so widths 8-31 differ only in the bus; from 32 bits both follow the width
WORDS = ((4, 8), (4, 16), (4, 24), (4, 32), (8, 64), (16, 128), (32, 256), (64, 512), (128, 1024))
DEPTHS = tuple(64 * 2**k for k in range(11))  # words per array, the plug-in's minimum 64 up to 65536
#: half and quarter steps between them: CACTI picks a new organisation every few sizes, so every node
#: is sampled every 1.41 x and 45 nm (and one, two and four banks at every node) every 1.19 x and at
#: 1.5 x powers of two, to keep the interpolation's steps small
HALF = tuple(round(64 * 2 ** (k + 0.5)) for k in range(10))
QUARTER = tuple(round(64 * 2 ** (k + q)) for k in range(10) for q in (0.25, 0.75))  # 45 nm: every 1.19 x
THREE_HALVES = tuple(96 * 2**k for k in range(10))
FULL = {"banks": (1, 2, 4, 8, 16), "ports": (1, 2), "words": WORDS, "depths": DEPTHS}
CORE = {"banks": (1, 4, 16), "ports": (1,), "words": WORDS, "depths": DEPTHS}
DENSE = {"banks": (1, 2, 4, 8, 16), "ports": (1, 2), "words": WORDS, "depths": HALF}
#: the words between powers of two that designs use (48, 80, 96, 192 bits), at 45 nm
ODD = {"banks": (1, 2, 4), "ports": (1,), "words": ((6, 48), (10, 80), (12, 96), (24, 192)),
       "depths": DEPTHS + HALF}
#: the bank counts between, at the nodes the plug-ins run CACTI at most (the ratio to 45 nm moves with banks)
BANKS = {"banks": (2, 8), "ports": (1,), "words": WORDS, "depths": DEPTHS}
OTHER = (32, 40, 22, 65, 90, 28)
MID = (55, 78)
#: what MID's nodes have (less than OTHER's: the ports' ratio to 45 nm moves little)
MID_GRIDS = (CORE, BANKS, {"banks": (32,), "ports": (1,), "words": WORDS, "depths": DEPTHS},
             {"banks": (1, 4, 16), "ports": (1,), "words": WORDS, "depths": HALF},
             {"banks": (1,), "ports": (2,), "words": WORDS, "depths": DEPTHS + HALF},
             {"banks": (4, 16), "ports": (2,), "words": WORDS, "depths": DEPTHS},
             {"banks": (2, 8), "ports": (1,), "words": WORDS, "depths": HALF})
#: (block bytes, bus bits) of the widths between WORDS' (every 1.2-1.33 x from 32 bits)
BETWEEN = tuple((b // 8, b) for b in (40, 48, 80, 96, 160, 192, 320, 384, 640, 768))
#: every grid, in the order they were run (a rerun appends only what is missing): 45 nm in full, the
#: other nodes less densely (the estimator uses their ratio to 45 nm); CACTI 7 refuses nodes above
#: 90 nm ("Feature size must be <= 90 nm")
NODES = ((45, FULL), (32, CORE), (65, CORE), (22, CORE), (90, CORE), (40, CORE), (45, DENSE),
         (45, ODD), (28, CORE), *((n, BANKS) for n in (32, 40, 22, 65, 90, 28)),
         (45, {"banks": (32,), "ports": (1, 2), "words": WORDS, "depths": DEPTHS + HALF}),
         *((n, {"banks": (32,), "ports": (1,), "words": WORDS, "depths": DEPTHS}) for n in OTHER),
         *((n, {"banks": (1, 4, 16), "ports": (1,), "words": WORDS, "depths": HALF}) for n in OTHER),
         *((n, {"banks": (2, 8), "ports": (1,), "words": WORDS, "depths": HALF}) for n in OTHER),
         *((n, {"banks": (1,), "ports": (2,), "words": WORDS, "depths": DEPTHS + HALF}) for n in OTHER),
         (45, {"banks": (1, 2, 4, 8, 16), "ports": (1, 2), "words": WORDS, "depths": QUARTER}),
         *((n, {"banks": (2, 4, 8, 16, 32), "ports": (2,), "words": WORDS, "depths": DEPTHS}) for n in OTHER),
         # issue 12, off-grid accuracy: a node inside each of CACTI's 45-65 and 65-90 nm segments (it blends
         # its device parameters linearly within one: leakage moves 7 x and not monotonically), ...
         *((n, grid) for n in MID for grid in MID_GRIDS),
         # ... the bus widths between, at 45 nm (another block size is another organisation, 60 % apart) ...
         (45, {"banks": (1, 2, 4, 8, 16), "ports": (1,), "words": BETWEEN, "depths": DEPTHS + HALF + QUARTER}),
         (45, {"banks": (1, 4), "ports": (2,), "words": BETWEEN, "depths": DEPTHS + HALF}),
         (45, {"banks": (2, 8, 16, 32), "ports": (2,), "words": BETWEEN, "depths": DEPTHS}),
         (45, {"banks": (32,), "ports": (1,), "words": BETWEEN, "depths": DEPTHS}),
         # ... every node every 1.19 x where most SRAMs are (CACTI reorganises at other sizes at each node) ...
         # (the bus widths between at the other nodes, on DEPTHS, did worse than the ratio of the widths
         # around them on this denser grid: 43 % worst instead of 29 % in 40 runs, so they are not run)
         *((n, {"banks": (1,), "ports": (1,), "words": WORDS, "depths": QUARTER}) for n in OTHER + MID),
         # ... and 1.5 x a power of two at 45 nm, where CACTI often reorganises (768, 3072: sizes designs use)
         (45, {"banks": (1, 2, 4, 8, 16), "ports": (1,), "words": WORDS + BETWEEN, "depths": THREE_HALVES}),
         # issue 12 again: CACTI reorganises at other sizes at each node (40 x 1703, 2 banks: ~1400 words at
         # 45 nm, 2048 at 65-90 nm), so the other nodes get 1.5 x a power of two for one to four banks, then
         # every 1.19 x for two and four banks (the worst off-grid cases were there)
         *((n, {"banks": (1, 2, 4), "ports": (1,), "words": WORDS, "depths": THREE_HALVES}) for n in OTHER + MID),
         *((n, {"banks": (2, 4), "ports": (1,), "words": WORDS, "depths": QUARTER}) for n in OTHER + MID),
         # ... and both for two ports, one bank (the worst left: 8 x 7863 and 72 x 33581 with 2 ports)
         *((n, {"banks": (1,), "ports": (2,), "words": WORDS, "depths": THREE_HALVES + QUARTER}) for n in OTHER + MID))


def attempt(cacti_dir: str, template: str, node: int, size: int, block: int, bus: int, banks: int, ports: int):
    """(row, None) for a request CACTI answered, (None, reason) for one it refused, (None, None) where
    CACTI did not finish (timeout, killed by a signal, cannot start): only a refusal is final."""
    fd, path = tempfile.mkstemp(suffix=".cfg", dir=cacti_dir)
    with os.fdopen(fd, "w") as fh:
        fh.write(template + "\n")
        fh.write(f"-size (bytes) {size}\n-read-write port  {ports}\n-block size (bytes) {block}\n"
                 f"-technology (u) {node / 1000}\n-output/input bus width  {bus}\n-UCA bank {banks}\n")
    try:
        proc = subprocess.run(["./cacti", "-infile", os.path.basename(path)], cwd=cacti_dir, capture_output=True,
                              text=True, errors="replace", timeout=600, check=False)
        if proc.returncode < 0:
            return None, None
        try:
            with open(path + ".out") as fh:
                row = list(csv.DictReader(fh))[-1]
        except (OSError, IndexError):
            said = [line.strip() for line in (proc.stdout + "\n" + proc.stderr).splitlines() if line.strip()]
            return None, (said[-1] if said else f"exit status {proc.returncode}, no output")[:200]
    except (OSError, subprocess.TimeoutExpired):
        return None, None
    finally:
        for p in (path, path + ".out"):
            if os.path.exists(p):
                os.remove(p)
    return (node, size, block, bus, banks, ports,
            *(row[k].strip() for k in (" Dynamic read energy (nJ)", " Dynamic write energy (nJ)",
                                       " Standby leakage per bank(mW)", " Random cycle time (ns)", " Area (mm2)"))), None


def run(cacti_dir: str, template: str, node: int, size: int, block: int, bus: int, banks: int, ports: int):
    """CACTI's output row for one request, or None."""
    return attempt(cacti_dir, template, node, size, block, bus, banks, ports)[0]


def requests():
    for node, grid in NODES:
        for banks in grid["banks"]:
            for ports in grid["ports"]:
                for block, bus in grid["words"]:
                    for words in grid["depths"]:
                        yield node, words * block, block, bus, banks, ports


def _keys(path: Path) -> set[tuple[int, ...]]:
    """The requests (node, size, block, bus, banks, ports) a grid file or the refused file holds."""
    if not path.is_file():
        return set()
    with open(path, newline="") as fh:
        return {tuple(int(r[k]) for k in FIELDS[:6]) for r in csv.DictReader(line for line in fh if line[0] != "#")}


def _writer(fh, provenance: str, fields: tuple[str, ...]):
    """The CSV writer of a file opened to append; an empty file first gets its provenance and header."""
    w = csv.writer(fh, lineterminator="\n")
    if fh.tell() == 0:
        fh.write(provenance)
        w.writerow(fields)
    return w


def main(cacti_dir: str, cfg: str, jobs: int = 1, out: Path = OUT, refused: Path = REFUSED) -> None:
    """Run every request of `NODES` that ``out`` does not tabulate and ``refused`` does not list; append
    each answer to ``out`` and each refusal (with CACTI's reason) to ``refused``."""
    template = Path(cfg).read_text()
    skip = _keys(out) | _keys(refused)
    todo = [r for r in dict.fromkeys(requests()) if r not in skip]
    if not todo:
        return
    with open(out, "a", newline="") as fh, open(refused, "a", newline="") as rfh, ProcessPoolExecutor(jobs) as pool:
        w, rw = _writer(fh, PROVENANCE, FIELDS), _writer(rfh, REFUSED_PROVENANCE, REFUSED_FIELDS)
        for req, (row, reason) in zip(todo, pool.map(attempt, *zip(*[(cacti_dir, template, *r) for r in todo]),
                                                     chunksize=4)):
            if row is not None:
                w.writerow(row)
                fh.flush()
            elif reason is not None:
                rw.writerow((*req, reason))
                rfh.flush()


CHECK = OUT.with_name("cacti_sram_check.csv")
CHECK_FIELDS = ("width", "depth", "n_banks", "n_rdwr_ports", *FIELDS)


def check(cacti_dir: str, cfg: str, n: int, seed: int = 12, out: Path = CHECK,
          nodes: tuple[int, ...] = (45, 45, 45, 40, 28, 32, 55, 65, 90)) -> None:
    """CACTI's figures for ``n`` random SRAMs off the grid (any width, depth, banks, ports, node of
    ``nodes``), asked for as the 0.3 plug-in asks: the held-out sets tests/estimate pins the table to."""
    import math
    import random

    rng = random.Random(seed)
    template = Path(cfg).read_text()
    rows = []
    while len(rows) < n:
        width = rng.choice((8, 12, 16, 20, 24, 32, 40, 48, 64, 72, 80, 96, 128, 160, 192, 256, 384, 512))
        depth = int(2 ** rng.uniform(6, 16))
        banks, ports = rng.choice((1, 1, 2, 3, 4, 8, 16)), rng.choice((1, 1, 2))
        node = rng.choice(nodes)
        size, block = width * depth // 8, max(width // 8, 4)
        if size < 64 or size > 2**20:
            continue
        size = max(size, 64 * block)  # the plug-in's minimum of 64 words
        row = run(cacti_dir, template, node, size, block, 8 * (width // 8), 2 ** math.ceil(math.log2(banks)), ports)
        if row is not None:
            rows.append((width, depth, banks, ports, *row))
    with open(out, "w", newline="") as fh:
        fh.write(PROVENANCE)
        w = csv.writer(fh, lineterminator="\n")
        w.writerow(CHECK_FIELDS)
        w.writerows(rows)


if __name__ == "__main__":
    args = [a for a in sys.argv[1:] if not a.startswith("--")]
    if "--check" in sys.argv:
        opt = {k: sys.argv[sys.argv.index(k) + 1] for k in ("--check", "--seed", "--out", "--nodes") if k in sys.argv}
        check(args[0], args[1], int(opt["--check"]), int(opt.get("--seed", 12)), Path(opt.get("--out", CHECK)),
              *([tuple(int(x) for x in opt["--nodes"].split(","))] if "--nodes" in opt else []))
    else:
        main(args[0], args[1], int(sys.argv[sys.argv.index("--jobs") + 1]) if "--jobs" in sys.argv else 1)
