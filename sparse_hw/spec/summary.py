"""Plain-data summaries of a loaded spec, for `sparse-hw check` and `sparse-hw arch show` (and --json)."""

from __future__ import annotations

from typing import Any

from .spec import Spec


def _fmt_ranks(fmt: Any) -> str:
    parts = []
    for r in fmt.ranks:
        text = r.format
        if r.flattened_rank_ids:
            text += "(" + "|".join("".join(g) for g in r.flattened_rank_ids) + ")"
        bits = []
        if r.metadata_word_bits is not None:
            bits.append(f"md {r.metadata_word_bits}b")
        if r.payload_word_bits is not None:
            bits.append(f"pl {r.payload_word_bits}b")
        if bits:
            text += "[" + ", ".join(bits) + "]"
        parts.append(text)
    order = f" ({fmt.rank_application_order})" if fmt.rank_application_order else ""
    return " > ".join(parts) + order


def sparse_lines(target: Any) -> list[str]:
    """Human-readable lines for one level's sparse optimizations."""
    lines = []
    for fmt in target.representation_format:
        lines.append(f"format {fmt.name}: {_fmt_ranks(fmt)}")
    for opt in target.action_optimization:
        for o in opt.options:
            lines.append(f"{opt.type} {o.target} on zero {', '.join(o.condition_on)}")
    for c in target.compute_optimization:
        lines.append(f"compute {c.type}")
    return lines


def _kept(spec: Spec, level: str, outermost: bool = False) -> tuple[list[str] | None, list[str] | None]:
    if outermost and spec.problem is not None:
        return spec.problem.data_space_names(), []
    keep: list[str] | None = None
    bypass: list[str] | None = None
    directives: list[Any] = list(spec.arch_constraints)
    if spec.mapping is not None:
        directives += list(spec.mapping.directives)
    for d in directives:
        if d.type == "bypass" and d.target == level:
            keep = sorted(set(keep or []) | set(d.keep or []))
            bypass = sorted(set(bypass or []) | set(d.bypass or []))
    return keep, bypass


def level_rows(spec: Spec) -> list[dict[str, Any]]:
    """One row per level, outermost first: instances, mesh, capacity, formats, optimizations, energies."""
    if spec.architecture is None:
        return []
    flat = spec.architecture.flatten()
    rows = []
    for lv in list(reversed(flat.storage)) + [flat.compute]:
        row: dict[str, Any] = {
            "name": lv.name,
            "kind": "compute" if lv is flat.compute else "storage",
            "class": lv.class_name + (f"/{lv.subclass}" if lv.subclass else ""),
            "instances": lv.instances,
            "mesh": f"{lv.mesh_x}x{lv.mesh_y}",
            "path": lv.path,
        }
        if lv is not flat.compute:
            cap = lv.capacity_words()
            row["capacity_words"] = cap
            row["word_bits"] = lv.word_bits
            row["capacity"] = "unbounded" if cap is None else f"{cap:,} x {lv.word_bits}b"
            md = lv.metadata_capacity_bits()
            row["metadata_bits"] = md
            keep, bypass = _kept(spec, lv.name, outermost=lv is flat.storage[-1])
            row["keeps"] = keep
            row["bypasses"] = bypass
        target = spec.sparse_target(lv.name)
        row["sparse"] = sparse_lines(target) if target is not None else []
        if spec.ert is not None:
            entry = spec.ert.component(lv.path)
            row["ert_actions"] = sorted({a.name for a in entry.actions}) if entry else None
        if spec.art is not None:
            entry = spec.art.component(lv.path)
            row["area_um2"] = None if entry is None else entry.area
        rows.append(row)
    return rows


def summarize(spec: Spec) -> dict[str, Any]:
    """Everything `sparse-hw check` reports, as plain data."""
    out: dict[str, Any] = {"files": [str(f) for f in spec.files]}
    if spec.architecture is not None:
        out["architecture"] = {
            "name": spec.architecture.name,
            "version": spec.architecture.version,
            "format": spec.architecture.dialect,
            "levels": level_rows(spec),
        }
    if spec.problem is not None:
        p = spec.problem
        out["problem"] = {
            "shape": p.shape.name,
            "dimensions": p.dimension_bounds(),
            "coefficients": p.coefficient_values(),
            "data_spaces": [
                {
                    "name": ds.name,
                    "size": p.tensor_size(ds.name),
                    "read_write": ds.read_write,
                    "density": p.densities[ds.name].density,
                    "distribution": p.densities[ds.name].distribution,
                    "data_file_path": p.densities[ds.name].data_file_path,
                }
                for ds in p.shape.data_spaces
            ],
        }
    if spec.mapping is not None:
        out["mapping"] = [
            {
                "target": d.target,
                "type": d.type,
                "factors": d.factors_text() if d.factors else None,
                "permutation": "".join(d.permutation) if d.permutation else None,
                "split": d.split,
                "keep": d.keep,
                "bypass": d.bypass,
            }
            for d in spec.mapping.directives
        ]
    if spec.sparse_optimizations is not None:
        out["sparse_optimizations"] = {t.name: sparse_lines(t) for t in spec.sparse_optimizations.targets}
    out["constraints"] = {
        "architecture": len(spec.arch_constraints),
        "mapspace": len(spec.mapspace_constraints),
    }
    if spec.mapper is not None:
        out["mapper"] = spec.mapper.model_dump(exclude_none=True)
    out["components"] = sorted(spec.components)
    out["ert_entries"] = None if spec.ert is None else len(spec.ert.tables)
    out["art_entries"] = None if spec.art is None else len(spec.art.tables)
    if spec.art is not None and spec.architecture is not None:
        flat = spec.architecture.flatten()
        area = 0.0
        for lv in flat.storage + [flat.compute]:
            entry = spec.art.component(lv.path)
            area += (entry.area if entry else 0.0) * lv.instances
        out["area_um2"] = area
    return out
