"""A human-readable statistics file in the layout of Timeloop's ``timeloop-model.stats.txt``.

Same section structure and line names as Timeloop v3.0.3 (`src/model/topology.cpp` and
`buffer.cpp` printers), so people who read Timeloop output can read ours — and so our own parser of
Timeloop outputs (:mod:`sparse_hw.backends.timeloop_output`) reads it back. Unlike Timeloop, the
summary area is the real area (Timeloop prints ``Area: 0.00 mm^2``, a known bug).
"""

from __future__ import annotations

from .result import Evaluation, LevelStats

_W = 60  # width of the per-dataspace label column


def _line(label: str, value: str, indent: int = 8) -> str:
    return " " * indent + f"{label:<{_W}}: {value}"


def _loops(mapping: dict | None) -> dict[str, list[str]]:
    """Loop lines per level (outermost loop first), from Timeloop mapping directives."""
    out: dict[str, list[str]] = {}
    if not mapping:
        return out
    for d in mapping.get("mapping", []):
        if d.get("type") not in ("temporal", "spatial"):
            continue
        factors = {}
        for tok in str(d.get("factors", "")).split():
            name, _, value = tok.partition("=")
            if value:
                factors[name] = int(value)
        perm = list(str(d.get("permutation", "")))
        lines = []
        split = int(d.get("split", len(perm)))
        for pos, dim in enumerate(perm):
            n = factors.get(dim, 1)
            if n > 1:
                suffix = ""
                if d["type"] == "spatial":
                    suffix = " (Spatial-X)" if pos < split else " (Spatial-Y)"
                lines.append(f"for {dim} in [0:{n}){suffix}")
        # permutations are innermost first; print outermost first, spatial loops innermost
        level = out.setdefault(d["target"], [])
        if d["type"] == "spatial":
            level.extend(reversed(lines))
        else:
            level[:0] = list(reversed(lines))
    return out


def _dataspace_block(lv: LevelStats) -> list[str]:
    fmt = lv.format if lv.format and lv.format != "none" else "none"
    rows = [
        f"    {lv.dataspace}:",
        _line("Partition size", f"{lv.partition_size:.0f}"),
        _line("Data tile shape", f"{lv.tile_size:.0f}"),
        _line("Max utilized data storage capacity", f"{lv.max_occupancy:.0f}"),
        _line("Representation format", fmt),
        _line("Utilized instances (max)", f"{lv.utilized_instances:.0f}"),
        _line(
            "Utilized instances (average)",
            f"{(lv.utilized_instances_avg if lv.utilized_instances_avg is not None else lv.utilized_instances):.2f}",
        ),
    ]
    for action in ("reads", "fills", "updates"):
        rows += [
            _line(f"Algorithmic scalar {action} (per-instance)", f"{getattr(lv, 'algorithmic_' + action):.0f}"),
            _line(f"Actual scalar {action} (per-instance)", f"{getattr(lv, action):.0f}"),
            _line(f"Gated scalar {action} (per-instance)", f"{getattr(lv, 'gated_' + action):.0f}"),
            _line(f"Skipped scalar {action} (per-instance)", f"{getattr(lv, 'skipped_' + action):.0f}"),
        ]
    for action in ("reads", "fills", "updates"):
        rows.append(_line(f"Actual scalar metadata {action} (per-instance)", f"{getattr(lv, 'metadata_' + action):.0f}"))
    rows += [
        _line("Temporal reductions (per-instance)", f"{lv.temporal_reductions:.0f}"),
        _line("Address generations (per-cluster)", f"{lv.address_generations:.0f}"),
        _line("Energy (total)", f"{lv.energy_pj:.2f} pJ"),
    ]
    return rows


def render_stats(ev: Evaluation, *, title: str = "sparse-hw") -> str:
    """The evaluation as a Timeloop-style stats text."""
    loops = _loops(ev.mapping)
    out = [f"# {title}: analytical model (Timeloop v3.0.3 / Sparseloop semantics)", "",
           "Buffer and Arithmetic Levels", "----------------------------"]
    order: list[str] = []
    for lv in ev.levels:
        if lv.level not in order:
            order.append(lv.level)
    compute = next((lv for lv in ev.levels if lv.dataspace == "(compute)"), None)
    level_no = 0
    if compute is not None:
        inst = compute.instances
        out += [
            f"Level {level_no}", "-------", f"=== {compute.level} ===", "",
            "    SPECS", "    -----", f"    Instances             : {inst}", "",
            "    STATS", "    -----",
            f"    Utilized instances (max)     : {compute.utilized_instances:.0f}",
            f"    Cycles                       : {ev.level_cycles.get(compute.level, ev.cycles)}",
            f"    Algorithmic Computes (total) : {ev.algorithmic_computes:.0f}",
            f"    Actual Computes (total)      : {ev.actual_computes:.0f}",
            f"    Gated Computes (total)       : {ev.gated_computes:.0f}",
            f"    Skipped Computes (total)     : {ev.skipped_computes:.0f}",
            f"    Energy (total)               : {compute.energy_pj:.2f} pJ",
            f"    Area (total)                 : {ev.area_breakdown_um2.get(compute.level, 0.0):.2f} um^2", "",
        ]
        level_no += 1
    for name in order:
        if compute is not None and name == compute.level:
            continue
        rows = [lv for lv in ev.levels if lv.level == name]
        inst = rows[0].instances
        area = ev.area_breakdown_um2.get(name, 0.0)
        out += [
            f"Level {level_no}", "-------", f"=== {name} ===", "", "    SPECS", "    -----",
            _line("Instances", f"{inst}"),
            _line("Area", f"{(area / inst if inst else 0.0):.2f} um^2"), "",
            "    MAPPING", "    -------", "    Loop nest:",
        ]
        for depth, loop in enumerate(loops.get(name, [])):
            out.append("      " + "  " * depth + loop)
        out += ["", "    STATS", "    -----", f"    Cycles               : {ev.level_cycles.get(name, ev.cycles)}"]
        for lv in rows:
            out += _dataspace_block(lv)
        out.append("")
        level_no += 1
    out += [
        "", "Summary Stats", "-------------",
        f"Utilization: {ev.utilization:.2f}",
        f"Cycles: {ev.cycles}",
        f"Energy: {ev.energy_pj / 1e6:.2f} uJ",
        f"EDP(J*cycle): {ev.energy_pj * 1e-12 * ev.cycles:.2e}",
        f"Area: {ev.area_um2 / 1e6:.2f} mm^2", "",
        f"Algorithmic Computes = {ev.algorithmic_computes:.0f}",
        f"Actual Computes = {ev.actual_computes:.0f}",
        "pJ/Compute",
    ]
    actual = ev.actual_computes or 1.0
    for comp, energy in ev.energy_breakdown_pj.items():
        out.append(f"    {comp:<28} = {energy / actual:.3f}")
    out.append(f"    {'Total':<28} = {ev.energy_pj / actual:.3f}")
    if ev.notes:
        out += ["", "Notes", "-----", *ev.notes]
    return "\n".join(out) + "\n"
