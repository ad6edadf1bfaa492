"""The published Timeloop/Sparseloop example runs (../shared/reference/examples) and our engine on them.

One module for the conformance test and ``benchmarks/examples.py``: for a case of ``cases.json`` it
builds the file list exactly as a Timeloop user passes it (``files``, then the recorded ``mapping``,
then the ERT/ART Accelergy wrote unless the run passed them itself; ``jinja`` as ``--jinja``),
evaluates it with the builtin engine and parses the recorded ``*.stats.txt`` with the Timeloop-output
parser, so both sides are :class:`~sparse_hw.model.result.Evaluation` objects compared field by field.
"""

from __future__ import annotations

import functools
import json
import math
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

EXAMPLES = Path(__file__).resolve().parent.parent.parent.parent / "shared" / "reference" / "examples"

#: Per-level counters compared with the recorded run (per instance, as Timeloop prints them).
ACCESS_FIELDS = ("reads", "fills", "updates")
#: Tolerances of issue 11's "Must show".
ENERGY_TOL_DENSE = 0.005
ENERGY_TOL_SPARSE = 0.02
ACCESS_TOL = 0.005


@dataclass(frozen=True)
class Case:
    """One run of cases.json (see the folder's README.md)."""

    id: str
    group: str
    commit: str
    mode: str
    cwd: str
    files: tuple[str, ...]
    mapping: str | None
    ert: tuple[str, ...]
    ert_in_files: bool
    jinja: dict[str, str]
    processed: str | None
    ref: str
    notes: str = ""

    @property
    def folder(self) -> Path:
        return EXAMPLES / self.cwd

    @property
    def modelable(self) -> bool:
        """A model run, or a mapper run whose best mapping was recorded (the rest can only be re-searched)."""
        return self.mode == "model" or self.mapping is not None

    def input_files(self) -> list[Path]:
        paths = [self.folder / f for f in self.files]
        if self.mapping:
            paths.append(self.folder / self.mapping)
        if self.ert and not self.ert_in_files:
            paths += [self.folder / f for f in self.ert]
        return paths


@functools.lru_cache(maxsize=1)
def cases() -> tuple[Case, ...]:
    raw = json.loads((EXAMPLES / "cases.json").read_text())
    return tuple(
        Case(
            id=c["id"], group=c["group"], commit=c["commit"], mode=c["mode"], cwd=c["cwd"],
            files=tuple(c["files"]), mapping=c.get("mapping"), ert=tuple(c.get("ert") or ()),
            ert_in_files=bool(c.get("ert_in_files")), jinja=dict(c.get("jinja") or {}),
            processed=c.get("processed"), ref=c["ref"], notes=c.get("notes") or "",
        )
        for c in raw
    )


def case(case_id: str) -> Case:
    for c in cases():
        if c.id == case_id:
            return c
    raise KeyError(case_id)


@functools.cache
def reference_stats(case_id: str):
    """The recorded run's parsed ``*.stats.txt`` (TimeloopStats)."""
    from sparse_hw.backends.timeloop_stats import parse_stats_file

    return parse_stats_file(case(case_id).folder / case(case_id).ref)


def reference(case_id: str):
    """The recorded run as an Evaluation."""
    return reference_stats(case_id).to_evaluation()


def load(c: Case):
    """The case's merged spec, loaded as ``sparse-hw model`` loads it."""
    from sparse_hw.spec import load_spec

    return load_spec(c.input_files(), jinja_data=c.jinja or None)


def evaluate_with_engine(c: Case, spec=None):
    """(Evaluation of the case's recorded mapping, the Engine that made it); raises what loading raises."""
    from sparse_hw.errors import SpecError
    from sparse_hw.model.evaluate import Engine

    spec = load(c) if spec is None else spec
    if spec.mapping is None:
        raise SpecError("no mapping in the input files", key_path="mapping")
    engine = Engine.from_spec(spec)
    return engine.evaluation(engine.compile_mapping(spec.mapping), 0), engine


def evaluate(c: Case):
    """Our engine's Evaluation of the case's recorded mapping (raises what loading raises)."""
    return evaluate_with_engine(c)[0]


def is_sparse(ev) -> bool:
    """Whether the run applied a sparse optimization (gating/skipping or a compressed format)."""
    if ev.gated_computes or ev.skipped_computes or ev.actual_computes != ev.algorithmic_computes:
        return True
    return any(
        lv.format not in ("none", "") or lv.gated_reads or lv.skipped_reads or lv.metadata_reads
        for lv in ev.levels
    )


def _rel(ours: float, ref: float) -> float:
    if ref == 0:
        return 0.0 if abs(ours) < 1e-9 else math.inf
    return abs(ours - ref) / abs(ref)


@dataclass
class Comparison:
    """Ours versus the recorded run for one case."""

    case: Case
    loaded: bool
    evaluated: bool = True
    error: str | None = None
    #: ours / recorded, after the old build's accounting where ``drift`` names one.
    energy_ratio: float = math.nan
    energy_ratio_v3: float = math.nan
    cycle_ratio: float = math.nan
    dialect: str = ""
    drift: tuple[str, ...] = ()
    #: our cycles (after the old build's accounting where ``drift`` names one).
    cycles: int = 0
    sparse: bool = False
    #: (level, dataspace, field) -> (ours, recorded) where they differ by more than ACCESS_TOL.
    access_mismatches: dict[tuple[str, str, str], tuple[float, float]] = field(default_factory=dict)
    access_checked: int = 0
    ours: Any = None
    ref: Any = None

    @property
    def energy_tol(self) -> float:
        return ENERGY_TOL_SPARSE if self.sparse else ENERGY_TOL_DENSE

    @property
    def energy_ok(self) -> bool:
        return abs(self.energy_ratio - 1.0) <= self.energy_tol

    @property
    def cycles_ok(self) -> bool:
        return self.cycle_ratio == 1.0

    @property
    def access_ok(self) -> bool:
        return not self.access_mismatches

    @property
    def ok(self) -> bool:
        return self.loaded and self.evaluated and self.energy_ok and self.cycles_ok and self.access_ok


def _norm(name: str) -> str:
    return name.strip().lower()


def _ref_dataspace(name: str) -> str:
    """The 2022 artifact build prints a streamed, bypassed data space as ``A (Streamed)``."""
    return name.removesuffix(" (Streamed)")


def access_mismatches(counts: dict[tuple[str, str], tuple[float, float, float]], ref) -> tuple[dict, int]:
    """Per-level actual reads/fills/updates that differ by more than ACCESS_TOL (and how many compared).

    ``counts`` maps (level, dataspace) to our (reads, fills, updates) per instance.
    """
    mine = {(_norm(level), ds): v for (level, ds), v in counts.items()}
    bad: dict[tuple[str, str, str], tuple[float, float]] = {}
    checked = 0
    for r in ref.levels:
        if r.dataspace.startswith("("):
            continue
        got_all = mine.get((_norm(r.level), _ref_dataspace(r.dataspace)), (0.0, 0.0, 0.0))
        for f, got in zip(ACCESS_FIELDS, got_all):
            want = getattr(r, f)
            checked += 1
            if _rel(got, want) > ACCESS_TOL and abs(got - want) > 0.5:
                bad[(r.level, r.dataspace, f)] = (got, want)
    return bad, checked


def _counts(ev) -> dict[tuple[str, str], tuple[float, float, float]]:
    return {
        (lv.level, lv.dataspace): (lv.reads, lv.fills, lv.updates)
        for lv in ev.levels
        if not lv.dataspace.startswith("(")
    }


def compare(c: Case, spec=None) -> Comparison:
    """Evaluate a case and compare it with its recorded stats (load errors are captured, not raised).

    Runs recorded by an older Timeloop build (see ``drift.py``) are compared after recounting ours
    with that build's accounting; ``energy_ratio_v3`` keeps the plain ratio. ``spec``: the case's spec
    as loaded elsewhere (e.g. with estimated tables), instead of ``load(c)``.
    """
    from sparse_hw.errors import SparseHwError
    from tests.conformance.drift import (
        DRIFT_BY_DIALECT,
        cp_uncapped,
        old_accounting,
        streamed_bypasses,
        uses_cp,
    )

    ref = reference(c.id)
    dialect = reference_stats(c.id).dialect
    try:
        spec = load(c) if spec is None else spec
    except SparseHwError as exc:
        return Comparison(c, loaded=False, error=str(exc).splitlines()[0], ref=ref, dialect=dialect)
    except Exception as exc:  # a crash is a finding too: report it, don't hide the table
        return Comparison(c, loaded=False, error=f"CRASH {exc!r}"[:300], ref=ref, dialect=dialect)
    try:
        ours, engine = evaluate_with_engine(c, spec)
    except SparseHwError as exc:
        error = str(exc).splitlines()[0]
        return Comparison(c, loaded=True, evaluated=False, error=error, ref=ref, dialect=dialect)
    except Exception as exc:
        error = f"CRASH {exc!r}"[:300]
        return Comparison(c, loaded=True, evaluated=False, error=error, ref=ref, dialect=dialect)
    energy, cycles, counts, effects = ours.energy_pj, ours.cycles, _counts(ours), ()
    if dialect in DRIFT_BY_DIALECT:
        base, cp = ours, ()
        if "cp_coordinates_uncapped" in DRIFT_BY_DIALECT[dialect] and uses_cp(engine):
            with cp_uncapped():
                base, engine = evaluate_with_engine(c, spec)
            cp = ("cp_coordinates_uncapped",)
        old = old_accounting(base, engine, dialect, streamed_bypasses(spec))
        energy, cycles, counts, effects = old.energy_pj, old.cycles, old.counts, old.effects + cp
    bad, checked = access_mismatches(counts, ref)
    return Comparison(
        c,
        loaded=True,
        energy_ratio=energy / ref.energy_pj if ref.energy_pj else math.nan,
        energy_ratio_v3=ours.energy_pj / ref.energy_pj if ref.energy_pj else math.nan,
        cycle_ratio=cycles / ref.cycles if ref.cycles else math.nan,
        cycles=cycles,
        sparse=is_sparse(ref),
        access_mismatches=bad,
        access_checked=checked,
        dialect=dialect,
        drift=effects,
        ours=ours,
        ref=ref,
    )


# ------------------------------------------------------------------ mapper hook (for the mapper owner)
#: ``hook(case) -> (our EDP, Timeloop's EDP)`` or None; set by ``set_mapper_edp_hook``.
_MAPPER_EDP_HOOK: Callable[[Case], tuple[float, float] | None] | None = None


def set_mapper_edp_hook(hook: Callable[[Case], tuple[float, float] | None] | None) -> None:
    """Register how ``benchmarks/examples.py`` fills its "mapper EDP vs Timeloop" column.

    The hook gets a mapper-mode case and returns (EDP of ``sparse-hw map``'s mapping as rated by our
    model, EDP of timeloop-mapper's recorded best as rated by our model), or None when not run.
    """
    global _MAPPER_EDP_HOOK
    _MAPPER_EDP_HOOK = hook


def mapper_edp(c: Case) -> tuple[float, float] | None:
    if _MAPPER_EDP_HOOK is None or c.mode != "mapper":
        return None
    return _MAPPER_EDP_HOOK(c)
