"""An SRAM priced as Accelergy 0.3's CACTI plug-in prices it, from tabulated CACTI 7 figures.

The plug-in (accelergy-cacti-plug-in, 2020-2023 ``cacti_wrapper.py``, read for its rules, not
copied) asks CACTI for a "ram" of ``width * depth // 8`` bytes with a block of ``width // 8`` bytes
(at least 4), an output bus of ``8 * (width // 8)`` bits, at least 64 blocks, ``n_rdwr_ports +
n_rd_ports + n_wr_ports`` read-write ports (at least 1) and ``n_banks`` rounded up to a power of two
UCA banks. It reports CACTI's dynamic read/write energy, as idle energy the standby leakage per
bank x random cycle time x banks, and CACTI's area; a read or write with both deltas (Timeloop's
random access) is ``(E - idle) x (0.3 / n_banks + 0.7) + idle``, n_banks as given.

``data/cacti_sram.csv`` holds CACTI's outputs for exactly such requests on a grid (written by
``scripts/cacti_sram_grid.py``; every recorded CACTI figure in ../shared/reference is reproduced
by it to the printed digit). `figures` interpolates that grid log-linearly in the bus width, the
number of words, the banks and the ports; other nodes than 45 nm are the 45 nm figure times the
ratio CACTI gives at the tabulated nodes (a quadratic in the node through the three tabulated in
CACTI's own 22-32, 32-45, 45-65 or 65-90 nm segment: `_node_weights`), and beyond 22-90 nm the
nearest node's figure times `tables.scale_factors` (CACTI 7 refuses nodes above 90 nm, the 0.3
plug-in nodes under 22 nm). `figures_v04` applies today's plug-in rules (v0.4 inputs) to the
same grid. ``data/cacti_sram_check.csv`` and ``data/cacti_sram_check2.csv`` hold CACTI runs off the
grid: the interpolation's error (tests/estimate/test_estimate_cacti.py). Its worst cases are sizes
where CACTI reorganises the array at another size at the target node than at 45 nm; only denser
runs at that node remove them (every node has 1.5 x powers of two and quarter steps for one to four
banks, one port, and for one bank, two ports: check2's worst read went from 39 % to 15 %).
"""

from __future__ import annotations

import bisect
import functools
import math

import numpy as np

from . import tables

#: CACTI's outputs interpolated per request: read and write energy (pJ), standby leakage per bank (mW),
#: random cycle time (ns), area (um^2)
QUANTITIES = ("read", "write", "leak_mW", "cycle_ns", "area")
BASE_NODE = 45.0
SOURCE = "data/cacti_sram.csv (CACTI 7.0 runs in the Accelergy CACTI plug-in's configuration)"


def request(width: float, depth: float, banks: float, ports: float) -> tuple[float, float, float, float]:
    """(bus bits, words, UCA banks, ports) of the CACTI request the plug-in makes for this SRAM."""
    size = int(width * depth) // 8
    block = max(int(width) // 8, 4)
    words = max(size / block, 64.0)
    bus = max(8 * (int(width) // 8), 8)  # under 8 bits the plug-in's bus is 0; the 8-bit figures stand in
    return float(bus), words, float(2 ** math.ceil(math.log2(max(banks, 1.0)))), max(float(ports), 1.0)


@functools.cache
def _lines() -> tuple[list[str], dict[float, list[str]]]:
    """The grid file's header and its lines by node, unparsed (a node is parsed when first used; the
    file has no quoted fields)."""
    by_node: dict[str, list[str]] = {}
    header: list[str] = []
    for line in (tables.DATA / "cacti_sram.csv").read_text().splitlines():
        if not line or line[0] == "#":  # the first line: the provenance
            continue
        if not header:
            header = line.split(",")
            continue
        by_node.setdefault(line[:line.index(",")], []).append(line)
    return header, {float(k): v for k, v in by_node.items()}


def _nodes() -> list[float]:
    return sorted(_lines()[1])


@functools.cache
def _table(node: float) -> dict[tuple[float, float, float], list[tuple[float, tuple[float, ...]]]]:
    """(ports, banks, bus) -> [(ln words, ln QUANTITIES)] sorted by words, at one tabulated node."""
    header, by_node = _lines()
    col = {name: i for i, name in enumerate(header)}
    at = [col[k] for k in ("size_bytes", "block_bytes", "bus_bits", "banks", "ports", "read_nJ", "write_nJ",
                           "leak_per_bank_mW", "cycle_ns", "area_mm2")]
    grid = np.array([line.split(",") for line in by_node[node]], dtype=float)[:, at]
    grid = grid[(grid[:, 5:] > 0).all(axis=1)]
    # ln pJ, pJ, mW, ns, um^2 (CACTI: nJ, nJ, mW, ns, mm^2)
    values = np.log(grid[:, 5:]) + np.log([1e3, 1e3, 1.0, 1.0, 1e6])
    words = np.log(grid[:, 0] / grid[:, 1])
    out: dict = {}
    for (bus, banks, ports), x, v in zip(grid[:, 2:5].tolist(), words.tolist(), values.tolist()):
        out.setdefault((ports, banks, bus), []).append((x, tuple(v)))
    for rows in out.values():
        rows.sort()
    return out


def _bracket(xs: list[float], x: float) -> tuple[int, int, float]:
    """(i0, i1, t): x = xs[i0] + t (xs[i1] - xs[i0]) for sorted xs, the end segments extended."""
    if len(xs) == 1:
        return 0, 0, 0.0
    i = min(max(bisect.bisect_left(xs, x), 1), len(xs) - 1)
    return i - 1, i, (x - xs[i - 1]) / (xs[i] - xs[i - 1])


def _interp(points: list[tuple[float, tuple[float, ...]]], x: float) -> tuple[float, ...]:
    """Piecewise-linear through (x, vector) points sorted by x, extended along the end segments."""
    i0, i1, t = _bracket([p[0] for p in points], x)
    return tuple(a + (b - a) * t for a, b in zip(points[i0][1], points[i1][1]))


@functools.cache
def _base_points() -> dict[tuple, tuple[float, ...]]:
    return {(k, round(x, 9)): v for k, rows in _table(BASE_NODE).items() for x, v in rows}


@functools.cache
def _ratios(node: float) -> dict[tuple[float, float, float], list[tuple[float, tuple[float, ...]]]]:
    """(ports, banks, bus) -> [(ln words, ln (figure / 45 nm figure))] on this node's grid points
    (45 nm has every one): the node's effect, smoother than the figures themselves."""
    base = _base_points()
    out: dict = {}
    for key, rows in _table(node).items():
        pts = [(x, tuple(a - b for a, b in zip(v, base[(key, round(x, 9))]))) for x, v in rows
               if (key, round(x, 9)) in base]
        if pts:
            out[key] = pts
    return out


_NESTED: dict[int, list] = {}


def _nested(by_key: dict) -> list:
    """[(ports, [(ln banks, [(ln bus, rows)])])] of one node's table, each level sorted."""
    found = _NESTED.get(id(by_key))
    if found is None:
        tree: dict = {}
        for (p, b, bus), rows in by_key.items():
            tree.setdefault(p, {}).setdefault(math.log(b), []).append((math.log(bus), rows))
        found = _NESTED[id(by_key)] = [(p, [(b, sorted(buses)) for b, buses in sorted(banks.items())])
                                       for p, banks in sorted(tree.items())]
    return found


def _at(by_key: dict, ports: float, banks: float, bus: float, words: float) -> tuple[float, ...]:
    """Interpolate one node's table over the grid points it has: words, then bus, banks, ports
    (piecewise-linear in ln words, ln bus, ln banks and ports; each over the points its branch has)."""
    lw, lbus, lb = math.log(words), math.log(bus), math.log(banks)

    def mix(pts: list, x: float, inner) -> tuple[float, ...]:
        i0, i1, t = _bracket([q[0] for q in pts], x)
        y0 = inner(pts[i0][1])
        if i1 == i0 or t == 0.0:
            return y0
        y1 = inner(pts[i1][1])
        return tuple(a + (b - a) * t for a, b in zip(y0, y1))

    return mix(_nested(by_key), ports,
               lambda bank_pts: mix(bank_pts, lb, lambda bus_pts: mix(bus_pts, lbus, lambda rows: _interp(rows, lw))))


def _ratio(node: float, ports: float, banks: float, bus: float, words: float) -> tuple[float, ...]:
    """ln (figure at a tabulated node / figure at 45 nm), from the node's port count nearest ``ports``
    among those tabulated with these banks (a node tabulated for one lends its ratio to all)."""
    if node == BASE_NODE:
        return (0.0,) * len(QUANTITIES)
    by_key = _ratios(node)
    have = sorted({k[0] for k in by_key if k[1] == banks}) or sorted({k[0] for k in by_key})
    return _at(by_key, min(have, key=lambda q: abs(q - ports)), banks, bus, words)


#: the nodes CACTI 7 has device parameters for (technology.cc); between two of them it blends the two
#: sets linearly in the feature size, so its figures are smooth within a segment and kink at its ends
CACTI_NODES = (22.0, 32.0, 45.0, 65.0, 90.0)


def _node_weights(node: float) -> list[tuple[float, float]]:
    """[(tabulated node, weight)] whose weighted ratios to 45 nm give ``node``'s: the node itself where
    tabulated; else a quadratic in the node through the three tabulated nodes of its CACTI segment
    (ends and one inside: CACTI's leakage moves 7 x and not monotonically within one, which no straight
    line in ln node follows; the quadratic is within 1 % of CACTI's leakage at 25, 36, 50 and 72 nm);
    else ln-ln linear."""
    nodes = _nodes()
    if node in nodes:
        return [(node, 1.0)]
    j = min(max(bisect.bisect_left(CACTI_NODES, node), 1), len(CACTI_NODES) - 1)
    inside = [n for n in nodes if CACTI_NODES[j - 1] <= n <= CACTI_NODES[j]]
    if len(inside) >= 3:
        three = sorted(sorted(inside, key=lambda n: abs(n - node))[:3])
        return [(n, math.prod((node - m) / (n - m) for m in three if m != n)) for n in three]
    i = min(max(bisect.bisect_left(nodes, node), 1), len(nodes) - 1)
    n0, n1 = nodes[i - 1], nodes[i]
    t = math.log(node / n0) / math.log(n1 / n0)
    return [(n0, 1.0 - t), (n1, t)]


def _raw(bus: float, words: float, banks: float, ports: float, node: float) -> dict[str, float]:
    """QUANTITIES of one CACTI request (power-of-two ``banks``) at a node of 22-90 nm: the 45 nm grid
    times the node's ratio (`_node_weights`: the tabulated nodes' ratios, blended in the node)."""
    base = _at(_table(BASE_NODE), ports, banks, bus, words)
    weights = _node_weights(node)
    if len(weights) == 2:  # ln-ln between two tabulated nodes
        (n0, w0), (n1, w1) = weights
        r0, r1 = (_ratio(n, ports, banks, bus, words) for n in (n0, n1))
        return {q: math.exp(b + w0 * a0 + w1 * a1) for q, b, a0, a1 in zip(QUANTITIES, base, r0, r1)}
    ratios = [(w, _ratio(n, ports, banks, bus, words)) for n, w in weights]
    out = {}
    for k, (q, b) in enumerate(zip(QUANTITIES, base)):
        r = sum(w * math.exp(v[k]) for w, v in ratios)
        # a quadratic through ratios far apart could dip under 0: then the same weights in ln ratio
        out[q] = math.exp(b) * (r if r > 0 else math.exp(sum(w * v[k] for w, v in ratios)))
    return out


def _beyond(values: dict[str, float], node: float, at: float) -> dict[str, float]:
    """Figures of node ``at`` carried to ``node`` outside the tabulated nodes with `tables.scale_factors`."""
    e_to, a_to, _ = tables.scale_factors(f"{node:g}nm")
    e_at, a_at, _ = tables.scale_factors(f"{at:g}nm")
    k = {"area": a_to / a_at, "cycle_ns": 1.0}
    return {q: v * k.get(q, e_to / e_at) for q, v in values.items()}


@functools.lru_cache(maxsize=4096)
def figures(width: float, depth: float, banks: float, ports: float, node: float) -> tuple[dict[str, float], str]:
    """The Accelergy 0.3 plug-in's figures for this SRAM: raw read and write energy (pJ, before the
    banks' access formula, `access_energy`), idle energy (leakage per bank x cycle x banks, pJ) and
    area (um^2), and a note on how they were found."""
    bus, words, nb, p = request(width, depth, banks, ports)
    nodes = _nodes()
    at = min(max(node, nodes[0]), nodes[-1])
    raw = _raw(bus, words, nb, p, at)
    note = f"CACTI request: {bus:g}-bit bus, {words:g} words, {nb:g} bank(s), {p:g} port(s), {node:g} nm"
    if at != node:  # beyond the tabulated nodes: the nearest one, scaled like every other figure
        raw = _beyond(raw, node, at)
        note += f" (CACTI's {at:g} nm figure scaled to {node:g} nm with data/tech_scaling.csv)"
    out = {"read": raw["read"], "write": raw["write"], "idle": raw["leak_mW"] * raw["cycle_ns"] * nb, "area": raw["area"]}
    return out, note + f"; {SOURCE}"


#: the nodes the current plug-in (CactiSRAM, 2024-) runs CACTI at, interpolating linearly between them
V04_NODES = (22.0, 32.0, 45.0, 65.0, 90.0)


@functools.lru_cache(maxsize=4096)
def figures_v04(width: float, depth: float, banks: float, ports: float, node: float,
                cycle_s: float) -> tuple[dict[str, float], str]:
    """The current plug-in's figures (accelergy-cacti-plug-in ``CactiSRAM``, used by Accelergy 0.4 /
    hwcomponents, 2024-; read for its rules): CACTI is asked for at least 32 bits (whole bytes) and
    64 x n_banks words; the energy is scaled by (0.7 x width share + 0.3) x depth share^0.78, the
    leakage and area by both shares; each figure is interpolated linearly between CACTI's runs at
    22/32/45/65/90 nm (below 22 nm x (node/22)^0.5, area x node/22, leakage also x 0.79; above 90 nm
    x (node/90)^2). Reads and writes are CACTI's own; leak = leakage power x n_banks x cycle."""
    nb = float(2 ** math.ceil(math.log2(max(banks, 1.0))))
    sw = max(math.ceil(width / 8) * 8, 32)
    sd = max(depth, 64 * banks)
    ws, ds = width / sw, depth / sd
    p = max(float(ports), 1.0)

    def at(n: float) -> dict[str, float]:
        raw = _raw(float(sw), float(sd), nb, p, n)
        k = (ws * 0.7 + 0.3) * ds ** 0.78
        return {"read": raw["read"] * k, "write": raw["write"] * k,
                "leak": raw["leak_mW"] * banks * ws * ds * cycle_s * 1e9, "area": raw["area"] * ws * ds}

    lo, hi = V04_NODES[0], V04_NODES[-1]
    if node < lo:
        s = node / lo
        out = {q: v * (s if q == "area" else s**0.5 * (0.79 if q == "leak" else 1.0)) for q, v in at(lo).items()}
    elif node > hi:
        out = {q: v * (node / hi) ** 2 for q, v in at(hi).items()}
    else:
        i = min(max(bisect.bisect_left(V04_NODES, node), 1), len(V04_NODES) - 1)
        n0, n1 = V04_NODES[i - 1], V04_NODES[i]
        t = (node - n0) / (n1 - n0)
        f0, f1 = at(n0), at(n1)
        out = {q: (1 - t) * f0[q] + t * f1[q] for q in f0}
    note = (f"CACTI request (current plug-in): {sw}-bit words x {sd:g}, {nb:g} bank(s), {p:g} port(s), scaled by "
            f"width {ws:.4g} and depth {ds:.4g} shares, {node:g} nm")
    return out, note + f"; {SOURCE}"


def access_energy(raw: float, idle: float, banks: float) -> float:
    """The plug-in's random read/write (address and data deltas 1): 30 % of the dynamic energy is
    address decoding, shared by ``banks`` banks, 70 % the cell access."""
    return (raw - idle) * (0.3 / max(banks, 1.0) + 0.7) + idle
