"""Turn recorded Accelergy outputs into rows of the primitive table (``data/recorded_primitives.csv``).

Accelergy's verbose outputs name, for each primitive component, its class and attributes
(``flattened_architecture_verbose.yaml``: ``primitive_components``), the energy of each of its
actions and the plug-in that gave it (``ERT_summary_verbose.yaml``: ``subaction_estimations``) and
its area (``ART_summary_verbose.yaml``: ``primitive_estimations``). Those numbers are CACTI,
Aladdin and table-plug-in outputs, i.e. facts; this module only reads them, with the file as the
provenance. It runs at development time (``python -m sparse_hw.estimate.harvest [REFERENCE] [--out
DIR]``, `regenerate`) and rewrites the shipped CSVs byte for byte; the estimator reads those CSVs,
never the reference folder.
"""

from __future__ import annotations

import csv
import io
import sys
from pathlib import Path
from typing import Any

import yaml

from ..io import atomic_write

#: the attributes that decide a primitive's energy and area (the key of a table row)
KEY_ATTRIBUTES = ("technology", "width", "depth", "datawidth", "n_banks", "n_rdwr_ports")
COLUMNS = ("class", *KEY_ATTRIBUTES, "action", "energy_pJ", "area_um2", "estimator", "provenance")


def _base(name: str) -> str:
    return name.split("[", 1)[0]


def _read(path: Path) -> Any:
    with open(path) as fh:
        return yaml.safe_load(fh)


def _sibling(folder: Path, *names: str) -> Path | None:
    for n in names:
        for p in sorted(folder.glob(f"*{n}")):
            return p
    return None


def harvest_folder(folder: Path, root: Path) -> list[dict[str, Any]]:
    """Rows from one folder holding a verbose flattened architecture and its verbose summaries."""
    flat_p = _sibling(folder, "flattened_architecture_verbose.yaml")
    ert_p = _sibling(folder, "ERT_summary_verbose.yaml")
    art_p = _sibling(folder, "ART_summary_verbose.yaml")
    if flat_p is None or ert_p is None:
        return []
    flat = (_read(flat_p) or {}).get("architecture", {}).get("local", []) or []
    ert = {t["name"]: t for t in (_read(ert_p) or {}).get("ERT_summary", {}).get("table_summary", []) or []}
    art = {}
    if art_p is not None:
        art = {t["name"]: t for t in (_read(art_p) or {}).get("ART_summary", {}).get("table_summary", []) or []}
    prov = str(ert_p.relative_to(root))
    rows: list[dict[str, Any]] = []
    for comp in flat:
        name = comp["name"]
        prims = comp.get("primitive_components") or []
        summary = ert.get(name, {})
        area_summary = art.get(name, {})
        if not prims:  # the component itself is a primitive
            attrs = comp.get("attributes") or {}
            estimator = _top_estimator(summary)
            for action in summary.get("actions", []) or []:
                energy = action.get("energy", action.get("max_energy"))
                rows.append(_row(comp["class"], attrs, action["name"], energy, None, estimator, prov))
            if area_summary:
                rows.append(_row(comp["class"], attrs, "", None, area_summary.get("area"), estimator, prov))
            continue
        by_name = {_base(p["name"]): p for p in prims}
        seen: set[tuple[str, str]] = set()
        for est in summary.get("primitive_estimation(s)", []) or []:
            for sub in est.get("subaction_estimations", []) or []:
                prim = by_name.get(_base(sub["subcomponent_name"]))
                if prim is None or (prim["name"], sub["subaction_name"]) in seen:
                    continue
                seen.add((prim["name"], sub["subaction_name"]))
                rows.append(
                    _row(prim["class"], prim.get("attributes") or {}, sub["subaction_name"], sub["energy"], None,
                         sub.get("estimator", ""), prov)
                )
        for est in area_summary.get("primitive_estimations", []) or []:
            if not isinstance(est, dict):
                continue
            prim = by_name.get(_base(est["name"]))
            if prim is not None:
                rows.append(_row(prim["class"], prim.get("attributes") or {}, "", None, est.get("area"),
                                 est.get("estimator", ""), str(art_p.relative_to(root))))
    return rows


def _top_estimator(summary: dict[str, Any]) -> str:
    for est in summary.get("primitive_estimation(s)", []) or []:
        if isinstance(est, dict):
            for v in est.values():
                if isinstance(v, dict) and "estimator" in v:
                    return str(v["estimator"])
    return ""


def _row(cls: str, attrs: dict[str, Any], action: str, energy, area, estimator: str, prov: str) -> dict[str, Any]:
    row = {"class": cls}
    for k in KEY_ATTRIBUTES:
        v = attrs.get(k, "")
        row[k] = str(v).strip('"') if v is not None else ""
    row.update(action=action, energy_pJ="" if energy is None else float(energy),
               area_um2="" if area is None else float(area), estimator=estimator, provenance=prov)
    return row


def _load_run(files: list[Path], ert_path: Path, art_path: Path | None, jinja: dict[str, Any] | None):
    """(spec, its flat architecture, ERT, ART or None) of a recorded run; None when sparse-hw cannot
    load the run (it then gives no rows)."""
    from ..spec import load_spec
    from ..spec.tables import ART, ERT

    try:
        spec = load_spec(files, jinja_data=jinja)
        flat = spec.flat()
        ert = ERT.model_validate((_read(ert_path) or {})["ERT"])
        art = ART.model_validate((_read(art_path) or {})["ART"]) if art_path and art_path.is_file() else None
    except Exception:  # noqa: BLE001 - a run sparse-hw cannot load gives no rows
        return None
    return spec, flat, ert, art


#: a recorded run as harvested: its ERT and ART paths and `_load_run`'s (spec, flat, ERT, ART)
LoadedRun = tuple[Path, Path | None, tuple]


def load_runs(root: Path) -> list[LoadedRun]:
    """Every recorded run (`recorded_runs`) loaded once; runs sparse-hw cannot load are left out (no rows)."""
    out = []
    for files, ert_path, art_path, jinja in recorded_runs(root):
        loaded = _load_run(files, ert_path, art_path, jinja)
        if loaded is not None:
            out.append((ert_path, art_path, loaded))
    return out


def harvest_case(run: LoadedRun, root: Path) -> list[dict[str, Any]]:
    """Rows for the primitive (non-compound) components of a recorded run: the architecture's
    attributes as sparse-hw flattens them, the energies (largest over argument variants, as
    Timeloop keeps) and area Accelergy recorded for them."""
    ert_path, art_path, (spec, flat, ert, art) = run
    rows = []
    for lv in [*flat.storage, flat.compute]:
        cls = lv.subclass or lv.class_name
        if cls in spec.components:
            continue
        attrs = dict(lv.attributes)
        for k, alts in (("width", ("memory_width", "data_storage_width")), ("depth", ("memory_depth",
                        "data_storage_depth", "entries"))):
            for a in alts:
                if attrs.get(k) is None and attrs.get(a) is not None:
                    attrs[k] = attrs[a]
        entry = ert.component(lv.name)
        if entry is not None:
            for name in dict.fromkeys(a.name for a in entry.actions):
                rows.append(_row(cls, attrs, name, entry.energy(name), None, "recorded run",
                                 str(ert_path.relative_to(root))))
        area = art.component(lv.name) if art is not None else None
        if area is not None:
            rows.append(_row(cls, attrs, "", None, area.area, "recorded run", str(art_path.relative_to(root))))
    return rows


COMPONENT_COLUMNS = ("class", "attributes", "component", "action", "energy_pJ", "area_um2", "provenance", "accelergy")


def harvest_components(run: LoadedRun, root: Path) -> list[dict[str, Any]]:
    """Rows for whole components (compound or not) of a recorded run: class, the attributes that
    identify it (`tables.component_signature`), every action's energy and the area Accelergy gave, and
    which Accelergy gave them (the recorded ERT's ``version``: 0.3 and 0.4 priced some alike inputs apart)."""
    from .tables import class_fingerprint, component_signature

    ert_path, art_path, (spec, flat, ert, art) = run
    rows = []
    for lv in [*flat.storage, flat.compute]:
        cls = lv.subclass or lv.class_name
        entry = ert.component(lv.name)
        area = art.component(lv.name) if art is not None else None
        if entry is None or area is None:
            continue
        sig = f"{class_fingerprint(spec.components.get(cls))} {component_signature(lv.attributes)}"
        prov = f"{ert_path.relative_to(root)} ({entry.name})"
        version = ert.version or ""
        for name in dict.fromkeys(a.name for a in entry.actions):
            rows.append({"class": cls, "attributes": sig, "component": lv.path, "action": name,
                         "energy_pJ": entry.energy(name), "area_um2": "", "provenance": prov, "accelergy": version})
        rows.append({"class": cls, "attributes": sig, "component": lv.path, "action": "", "energy_pJ": "",
                     "area_um2": area.area, "provenance": f"{art_path.relative_to(root)} ({area.name})",
                     "accelergy": version})
    return rows


def recorded_runs(root: Path) -> list[tuple[list[Path], Path, Path | None, dict[str, Any] | None]]:
    """(architecture files, ERT, ART, Jinja variables) of every recorded run: the reference designs and cases.json.

    Where two runs recorded different figures for the same component (eyeriss_v2_pe's psum_spad: the
    2022 artifact's Accelergy vs the 2023 one behind designs/eyeriss_v2), the earlier run here wins;
    the eyeriss_v2_pe tables come first as 73 of the 282 reference model runs use them."""
    import json

    designs = root / "timeloop" / "designs"
    out = []
    for name in ("gating", "compression", "dense"):
        arch = [designs / name / "arch.yaml", *sorted((designs / name / "components").glob("*.yaml"))]
        if name in ("gating", "compression"):
            folder = designs / f"accelergy_ert_{name}_arch"
            out.append((arch, folder / "ERT.yaml", folder / "ART.yaml", None))
    pe = designs / "eyeriss_v2_pe"  # the MICRO'22 artifact's own tables (fig12 ert_art, 2022 Accelergy)
    out.append(([pe / "arch.yaml"], pe / "ERT.yaml", pe / "ART.yaml", None))
    v2 = designs / "eyeriss_v2"
    out.append(([v2 / "arch.yaml", *sorted((v2 / "components").glob("*.yaml"))], v2 / "accelergy_ert" / "ERT.yaml",
                v2 / "accelergy_ert" / "ART.yaml", None))
    cases = root / "examples" / "cases.json"
    if cases.is_file():
        for case in json.loads(cases.read_text()):
            ert = [p for p in case.get("ert") or [] if "ERT" in Path(p).name]
            art = [p for p in case.get("ert") or [] if "ART" in Path(p).name]
            if not ert:
                continue
            cwd = root / "examples" / case["cwd"]
            out.append(([cwd / f for f in case["files"]], cwd / ert[0], cwd / art[0] if art else None,
                        case.get("jinja") or None))
    return out


def harvest(root: Path, runs: list[LoadedRun] | None = None) -> list[dict[str, Any]]:
    """Rows from every folder under ``root`` with verbose Accelergy outputs and from every recorded
    run's primitive components (``runs``: `load_runs` of ``root``, loaded here if not given), duplicates dropped."""
    rows: list[dict[str, Any]] = []
    seen: set[tuple] = set()
    found = [harvest_folder(flat.parent, root) for flat in sorted(root.rglob("*flattened_architecture_verbose.yaml"))]
    found += [harvest_case(run, root) for run in (load_runs(root) if runs is None else runs)]
    for batch in found:
        for row in batch:
            key = tuple(row[c] for c in COLUMNS[:8])
            if key not in seen:
                seen.add(key)
                rows.append(row)
    return rows


def harvest_all_components(root: Path, runs: list[LoadedRun] | None = None) -> list[dict[str, Any]]:
    """Whole-component rows of every recorded run (``runs`` as for `harvest`), one set per (class,
    signature, component path, Accelergy version); the first run to record one wins."""
    rows, seen, taken = [], set(), set()
    for run in load_runs(root) if runs is None else runs:
        batch = harvest_components(run, root)
        new = {(r["class"], r["attributes"], r["component"], r["accelergy"]) for r in batch} - taken
        for r in batch:
            key = (r["class"], r["attributes"], r["component"], r["accelergy"], r["action"])
            if (r["class"], r["attributes"], r["component"], r["accelergy"]) in new and key not in seen:
                seen.add(key)
                rows.append(r)
        taken |= new
    return rows


def to_csv(rows: list[dict[str, Any]], columns: tuple[str, ...] = COLUMNS) -> str:
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=columns, lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    return buf.getvalue()


#: the shipped tables `regenerate` writes, by file name
SHIPPED = ("recorded_primitives.csv", "recorded_components.csv")


def regenerate(reference: Path, out: Path) -> list[Path]:
    """Write the shipped tables (`SHIPPED`) harvested from ``reference`` (../shared/reference) into
    ``out``; byte-identical to ``data/`` when the reference is the one they were made from."""
    reference = Path(reference).resolve()
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    runs = load_runs(reference)  # each recorded run loaded once for both tables
    texts = (to_csv(harvest(reference, runs)), to_csv(harvest_all_components(reference, runs), COMPONENT_COLUMNS))
    paths = [out / name for name in SHIPPED]
    for path, text in zip(paths, texts):
        atomic_write(path, text)
    return paths


def main(argv: list[str] | None = None) -> int:
    """``python -m sparse_hw.estimate.harvest [REFERENCE] [--out DIR]``: regenerate the shipped
    tables (default REFERENCE ../shared/reference next to the checkout, default DIR the package's data/)."""
    import argparse

    here = Path(__file__).resolve()
    parser = argparse.ArgumentParser(prog="python -m sparse_hw.estimate.harvest", description=main.__doc__)
    parser.add_argument("reference", nargs="?", type=Path, default=here.parents[3] / "shared" / "reference")
    parser.add_argument("--out", type=Path, default=here.parent / "data")
    args = parser.parse_args(argv)
    if not args.reference.is_dir():
        print(f"no reference folder at {args.reference}", file=sys.stderr)
        return 2
    for path in regenerate(args.reference, args.out):
        print(f"wrote {path}")
    return 0


if __name__ == "__main__":  # pragma: no cover - development tool
    sys.exit(main())
