"""sparse-hw's energy/area estimator against every recorded Accelergy ERT/ART it can load.

Prints, per component class, the number of entries, median and worst |error| of energy entries
and of areas, then the totals and the time to estimate the full eyeriss_v2. Entries below 1e-4 pJ
are compared at that resolution (ERT.yaml rounds to 6 decimals). Usage:
``python benchmarks/estimate_vs_accelergy.py [REFERENCE] [--models-only] [--loo] [--runs]`` (default
../shared/reference). ``--loo`` adds the out-of-sample table: every component estimated with the recorded
figures of its own primitive sizes held out (`held_out_summary`); ``--models-only`` one with no recorded
figure looked up; ``--runs`` re-evaluates the 282 reference model runs with estimated tables (minutes).
"""

from __future__ import annotations

import logging
import statistics
import sys
import time
from collections import defaultdict
from pathlib import Path

import yaml

from sparse_hw.estimate import Emulation, estimate, tables
from sparse_hw.estimate.harvest import recorded_runs
from sparse_hw.spec import load_spec
from sparse_hw.spec.tables import ART, ERT, component_key


def _err(est: float, rec: float) -> float:
    return abs(est - rec) / max(abs(rec), 1e-4)


def held_out_summary(spec, emulate: Emulation | None = None) -> list[dict]:
    """The estimate of every component of the spec with the recorded figures of its own primitive
    sizes (and every exact duplicate, any run, node, bank count) left out of all lookups and fits,
    and no whole recorded component: the leave-one-size-out view of an unseen size."""
    emulate = emulate or Emulation()
    rows = []
    for row in estimate(spec, emulate=emulate).summary:
        only = {component_key(row["name"])}
        with tables.holding_out(()), tables.tracing() as sizes:  # the primitives it is made of
            estimate(spec, only=only, emulate=emulate)
        with tables.holding_out(sizes):
            rows += [r for r in estimate(spec, only=only, emulate=emulate).summary if r["name"] == row["name"]]
    return rows


#: recorded tables made with the June-October 2021 Aladdin plug-in (`Emulation.aladdin_sram`), which the
#: ERT itself does not show: the MICRO'22 Sparseloop artifact's eyeriss_v2_pe tables, whose ERT_summary
#: (../shared/reference/examples/artifact/workspace/2022.micro.artifact/evaluation_setups/
#: fig12_eyerissv2_pe_setup/ert_art/ERT_summary.yaml) names Aladdin_table for the 20 x 32 psum_spad's energy
MID_2021_ALADDIN = ("timeloop/designs/eyeriss_v2_pe/",)


def recorded_by(raw_ert: dict, ert_path: Path | str | None = None) -> Emulation:
    """The Accelergy whose arithmetic a recorded table shows, as a user reproducing that run would
    name it: the ERT's ``version`` and, for 0.3, the ``--precision`` it ran with (the most decimals
    of any recorded energy: 3 in the 2020 exercises, 5 in the 2021 ones), and for the tables of
    `MID_2021_ALADDIN` (``ert_path``) the plug-in they ran with. Today's Accelergy writes 0.4."""
    from decimal import Decimal

    if not str(raw_ert.get("version", "")).startswith("0.3"):
        return Emulation()
    decimals = [max(0, -Decimal(repr(float(a["energy"]))).normalize().as_tuple().exponent)
                for t in raw_ert.get("tables") or [] for a in t.get("actions") or []]
    mid_2021 = ert_path is not None and any(m in Path(ert_path).as_posix() for m in MID_2021_ALADDIN)
    return Emulation("0.3", max(decimals, default=None), aladdin_sram=mid_2021)


def as_recorded(files: list[Path], ert_path: Path, jinja):
    """(files, Jinja variables) of the input Accelergy actually read for a recorded table: where the
    output folder keeps it, Timeloop's dump of its processed input (``parsed-processed-input.yaml``,
    timeloopfe v0.4: architecture and compound classes as run) or of the v0.3 architecture it was given
    (``*defined_input_architecture.yaml``), else the example's files. Some examples were edited after
    their outputs were recorded: ex_2d55108's intmac then had ``aladdin_adder`` as its multiplier
    (parsed-processed-input.yaml), and ex_778460f's simba_like named its buffers' sizes ``depth``/``width``,
    which the smartbuffer classes ignore for their own ``memory_depth: 12``/``memory_width: 16``
    (timeloop-mapper.defined_input_architecture.yaml): priced from today's files they are other designs."""
    folder = ert_path.parent
    processed = folder / "parsed-processed-input.yaml"
    if processed.is_file():
        return [processed], None
    defined = sorted(folder.glob("*defined_input_architecture.yaml"))
    flattened = sorted(folder.glob("*flattened_architecture.yaml"))
    if defined and flattened:
        def is_arch(f: Path) -> bool:
            try:
                return "architecture" in (yaml.safe_load(f.read_text()) or {})
            except (OSError, yaml.YAMLError):
                return False
        return [_as_priced(defined[0], flattened[0]), *(f for f in files if not is_arch(f))], jinja
    return files, jinja


def _as_priced(defined: Path, flattened: Path) -> Path:
    """The v0.3 architecture Timeloop was given, each component with the attributes Accelergy 0.3 priced
    it with (its flattened architecture; the two dumps disagree, e.g. simba_like's LMAC datawidth 16 vs
    the 8 of its recorded 0.561 pJ), written to a temporary file."""
    import tempfile

    priced = {c["name"]: c.get("attributes") or {}
              for c in (yaml.safe_load(flattened.read_text())["architecture"].get("local") or [])}
    arch = yaml.safe_load(defined.read_text())

    def walk(node: dict, prefix: str) -> None:
        name = f"{prefix}{node['name']}." if "name" in node else prefix
        for comp in node.get("local") or []:
            comp["attributes"] = dict(priced.get(f"{name}{comp['name']}", comp.get("attributes") or {}))
        for sub in node.get("subtree") or []:
            walk(sub, name)

    walk(arch["architecture"], "")
    out = Path(tempfile.mkdtemp(prefix="sparse_hw_bench_")) / defined.name
    out.write_text(yaml.safe_dump(arch, sort_keys=False))
    return out


def _generation(ert_path: Path) -> str:
    """Which Accelergy made a recorded table: the ex_2d55108 snapshot's v0.4 outputs (hwcomponents and
    NeuroSim plug-ins, `area_scale` compounds) or the 0.3-era plug-ins (CACTI, Aladdin, tables)."""
    return "of which v0.4 (ex_2d55108)" if "ex_2d55108" in str(ert_path) else "of which 0.3 plug-ins"


def main(root: Path, worst: int = 8, loo: bool = False,
         recorded_inputs: bool | None = None) -> dict[str, tuple[list[float], list[float]]]:
    """Print the per-class table; return class -> (energy errors, area errors). ``recorded_inputs``:
    estimate each recorded table from the input that produced it (`as_recorded`), else from the
    example's files; by default for the models' views (``loo``, models only) but not for the in-sample
    one, whose lookups (``data/recorded_components.csv``) are keyed by the example's files as harvested."""
    if recorded_inputs is None:
        recorded_inputs = loo or not tables.USE_RECORDED
    energy: dict[str, list[float]] = defaultdict(list)
    entries: list[tuple[float, str]] = []
    area: dict[str, list[float]] = defaultdict(list)
    by_gen: dict[str, tuple[list[float], list[float]]] = defaultdict(lambda: ([], []))
    skipped = []
    for files, ert_p, art_p, jinja in recorded_runs(root):
        gen = _generation(ert_p)
        try:
            inputs, variables = as_recorded(files, ert_p, jinja) if recorded_inputs else (files, jinja)
            spec = load_spec(inputs, jinja_data=variables)
            raw_ert = yaml.safe_load(ert_p.read_text())["ERT"]
            emulate = recorded_by(raw_ert, ert_p)
            summary = held_out_summary(spec, emulate) if loo else estimate(spec, emulate=emulate).summary
            ert = ERT.model_validate(raw_ert)
            art = ART.model_validate(yaml.safe_load(art_p.read_text())["ART"]) if art_p and art_p.is_file() else None
        except Exception as exc:  # noqa: BLE001 - report, do not stop
            skipped.append(f"{ert_p.relative_to(root)}: {type(exc).__name__}: {str(exc).splitlines()[0][:90]}")
            continue
        for row in summary:
            cls, name = row["class"], row["name"]
            rec = ert.component(name)
            if rec is not None:
                for a in row["actions"]:
                    r = rec.energy(a["name"])
                    if r is not None:
                        energy[cls].append(_err(a["energy"], r))
                        by_gen[gen][0].append(energy[cls][-1])
                        entries.append((energy[cls][-1], f"{cls} {name} {a['name']}: {a['energy']:.6g} vs "
                                        f"{r:.6g} pJ ({ert_p.relative_to(root)})"))
            ra = art.component(name) if art is not None else None
            if ra is not None:
                area[cls].append(_err(row["area"], ra.area))
                by_gen[gen][1].append(area[cls][-1])
                entries.append((area[cls][-1], f"{cls} {name} area: {row['area']:.6g} vs {ra.area:.6g} um^2"
                                f" ({ert_p.relative_to(root)})"))
    print(f"{'class':28s} {'n_E':>5s} {'med E':>8s} {'max E':>8s} {'n_A':>5s} {'med A':>8s} {'max A':>8s}")
    for cls in sorted(set(energy) | set(area)):
        e, a = energy.get(cls, []), area.get(cls, [])
        print(f"{cls:28s} {len(e):5d} {_p(e, statistics.median)} {_p(e, max)} {len(a):5d} "
              f"{_p(a, statistics.median)} {_p(a, max)}")
    all_e = [x for v in energy.values() for x in v]
    all_a = [x for v in area.values() for x in v]
    print(f"{'ALL':28s} {len(all_e):5d} {_p(all_e, statistics.median)} {_p(all_e, max)} {len(all_a):5d} "
          f"{_p(all_a, statistics.median)} {_p(all_a, max)}")
    for gen, (e, a) in sorted(by_gen.items()):
        print(f"  {gen:26s} {len(e):5d} {_p(e, statistics.median)} {_p(e, max)} {len(a):5d} "
              f"{_p(a, statistics.median)} {_p(a, max)}")
    print(f"worst {worst} entries:")
    for err, text in sorted(entries, reverse=True)[:worst]:
        print(f"  {err:8.1%}  {text}")
    v2 = root / "timeloop" / "designs" / "eyeriss_v2"
    spec = load_spec([v2 / "arch.yaml", *sorted((v2 / "components").glob("*.yaml"))])
    t = time.perf_counter()
    for _ in range(10):
        estimate(spec)
    print(f"eyeriss_v2 full estimate: {(time.perf_counter() - t) / 10 * 1000:.1f} ms")
    print(f"runs not loaded/estimated: {len(skipped)}")
    for s in skipped:
        print("  " + s)
    return {c: (energy.get(c, []), area.get(c, [])) for c in set(energy) | set(area)}


def whole_runs(limit: int | None = None) -> None:
    """Recorded reference model runs re-evaluated with the estimator's tables instead of Accelergy's."""
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    from sparse_hw.backends.analytical import BuiltinBackend
    from tests.reference_cases import case_ids, input_files, results

    rows = results().set_index("case_id")
    e_err, a_err, failed = [], [], []
    ids = case_ids("model")[:limit]
    for cid in ids:
        files = [f for f in input_files(cid) if f.name not in ("ERT.yaml", "ART.yaml")]
        try:
            ev = BuiltinBackend().model(files)
        except Exception as exc:  # noqa: BLE001 - report, do not stop
            failed.append(f"{cid}: {type(exc).__name__}: {str(exc).splitlines()[0][:90]}")
            continue
        rec = rows.loc[cid]
        e_err.append(abs(ev.energy_pj - rec["energy_pJ"]) / rec["energy_pJ"])
        a_err.append(abs(ev.area_um2 - rec["area_um2"]) / rec["area_um2"])
    print(f"reference model runs with estimated tables: {len(e_err)}/{len(ids)} evaluated; energy |error| "
          f"median {_p(e_err, statistics.median).strip()} worst {_p(e_err, max).strip()}, within 5%: "
          f"{sum(e <= 0.05 for e in e_err)}; area median {_p(a_err, statistics.median).strip()} worst "
          f"{_p(a_err, max).strip()}")
    for f in failed:
        print("  " + f)


def example_runs() -> None:
    """Example runs Accelergy served (cases.json with an `ert`): our engine with the recorded tables vs
    with the estimator's (the estimator's effect alone; it reproduces the Accelergy that served the run,
    `recorded_by`), and the latter vs Timeloop's recorded energy, compared as the conformance tests
    compare (`compare`: a run an older Timeloop build recorded is recounted with that build's accounting)."""
    import dataclasses

    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    from sparse_hw.estimate import fill_missing
    from tests.conformance.examples import cases, compare, load

    vs_tables, vs_timeloop, failed, beyond, n = [], [], [], [], 0
    for c in cases():
        if not c.ert or not c.modelable:
            continue
        n += 1
        try:
            spec = load(dataclasses.replace(c, ert=(), ert_in_files=False,
                                            files=tuple(f for f in c.files if f not in c.ert)))
            # the Accelergy that served the run, as the in-sample table does (`recorded_by`)
            fill_missing(spec, emulate=recorded_by(yaml.safe_load((c.folder / c.ert[0]).read_text())["ERT"],
                                                  (c.folder / c.ert[0]).resolve()))
        except Exception as exc:  # noqa: BLE001 - report, do not stop
            failed.append(f"{c.id}: {type(exc).__name__}: {str(exc).splitlines()[0][:90]}")
            continue
        estimated, recorded = compare(c, spec), compare(c)  # each evaluated once (errors captured, not raised)
        if estimated.ours is None:
            failed.append(f"{c.id}: {estimated.error}"[:150])
            continue
        if recorded.ours is None:  # the recorded tables themselves may not load
            failed.append(f"{c.id} (recorded tables): {recorded.error}"[:150])
        elif recorded.ours.energy_pj:
            vs_tables.append(abs(estimated.ours.energy_pj - recorded.ours.energy_pj) / recorded.ours.energy_pj)
        ratio = estimated.energy_ratio
        if ratio == ratio:  # not NaN: Timeloop recorded an energy
            vs_timeloop.append(abs(ratio - 1.0))
            if abs(ratio - 1.0) > 0.05:
                beyond.append(f"{c.id}: {ratio:.4f} x Timeloop's energy with estimated tables, "
                              f"{recorded.energy_ratio:.4f} x with the recorded ones")
    print(f"example runs Accelergy served: {len(vs_tables)}/{n} evaluated; estimated vs recorded tables (same "
          f"engine): median {_p(vs_tables, statistics.median).strip()}, worst {_p(vs_tables, max).strip()}, "
          f"within 5%: {sum(e <= 0.05 for e in vs_tables)}; vs Timeloop's recorded energy: median "
          f"{_p(vs_timeloop, statistics.median).strip()}, within 5%: {sum(e <= 0.05 for e in vs_timeloop)}")
    for f in failed + beyond:
        print("  " + f)


def _p(values: list[float], f) -> str:
    return f"{f(values):8.1%}" if values else f"{'-':>8s}"


if __name__ == "__main__":
    logging.getLogger("sparse_hw.estimate").setLevel(logging.ERROR)  # one "estimated ..." note per run otherwise
    args = [a for a in sys.argv[1:] if not a.startswith("--")]
    root = Path(args[0]) if args else Path(__file__).resolve().parents[2] / "shared" / "reference"
    print("== recorded figures first, then models (what sparse-hw uses)")
    main(root)
    if "--models-only" in sys.argv:  # no recorded figure is looked up (the fits keep every one)
        print("\n== models only (no recorded figure looked up; the fits still see every recorded size)")
        with tables.models_only():
            main(root)
    if "--loo" in sys.argv:  # out of sample: each component with its own sizes' figures held out
        print("\n== leave-one-size-out (each component priced with every recorded figure of its primitive"
              " sizes left out of lookups and fits, and no whole recorded component)")
        main(root, loo=True)
    if "--runs" in sys.argv:  # the 282 reference model runs and the example runs (a few minutes)
        whole_runs()
        example_runs()
