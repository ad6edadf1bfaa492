"""Our mapper against timeloop-mapper's recorded best on the published mapper examples.

For each ``mode == "mapper"`` run of ``../shared/reference/examples/cases.json``: load the run's
files as a Timeloop user passes them (without a mapping), search with ``sparse-hw map``'s mapper,
and rate both our mapping and the recorded best mapping with OUR model, on the run's own
``optimization_metrics`` (compared lexicographically, as timeloop-mapper does). The recorded best is
the run's ``map.yaml``; the v0.3 runs that wrote none are read from their ``map.txt`` loop nest.
Shared by ``tests/conformance/test_examples_mapper.py`` and ``benchmarks/mapper_examples.py``.
"""

from __future__ import annotations

import json
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

EXAMPLES = Path(__file__).resolve().parent.parent.parent.parent / "shared" / "reference" / "examples"


def mapper_cases() -> list[dict[str, Any]]:
    return [c for c in json.loads((EXAMPLES / "cases.json").read_text()) if c["mode"] == "mapper"]


def input_files(case: dict[str, Any]) -> list[Path]:
    """The run's inputs without its mapping (the ERT/ART Accelergy wrote appended unless passed)."""
    cwd = EXAMPLES / case["cwd"]
    files = [cwd / f for f in case["files"]]
    if case.get("ert") and not case.get("ert_in_files"):
        files += [cwd / f for f in case["ert"]]
    return files


def map_txt_mapping(path: Path, dataspaces: list[str], dims: list[str]) -> dict[str, Any]:
    """A Timeloop mapping (``mapping:`` directives) equivalent to a recorded ``*.map.txt`` loop nest.

    Each header's loops are that level's temporal loops (outermost first) and the spatial loops of
    its fan-out; the tensors it lists are kept, the others bypassed (`Nest::PrettyPrint`).
    """
    from sparse_hw.backends.timeloop_map import parse_map_txt

    directives: list[dict[str, Any]] = []
    for level in parse_map_txt(path):
        temporal = [lp for lp in level.loops if lp.spatial is None]
        xs = [lp for lp in level.loops if lp.spatial == "X"]
        ys = [lp for lp in level.loops if lp.spatial == "Y"]
        t_f = {d: 1 for d in dims}
        for lp in temporal:
            t_f[lp.dim] *= lp.bound
        order = [lp.dim for lp in reversed(temporal)]
        perm = order + [d for d in dims if d not in order]
        directives.append({"target": level.name, "type": "temporal",
                           "factors": " ".join(f"{d}={v}" for d, v in t_f.items()), "permutation": "".join(perm)})
        if xs or ys:
            s_f = {d: 1 for d in dims}
            for lp in xs + ys:
                s_f[lp.dim] *= lp.bound
            sp = [lp.dim for lp in xs] + [lp.dim for lp in ys]
            directives.append({"target": level.name, "type": "spatial",
                               "factors": " ".join(f"{d}={v}" for d, v in s_f.items()),
                               "permutation": "".join(sp + [d for d in dims if d not in sp]), "split": len(xs)})
        directives.append({"target": level.name, "type": "bypass", "keep": list(level.keeps),
                           "bypass": [t for t in dataspaces if t not in level.keeps]})
    return {"mapping": directives}


class SearchFailed(Exception):
    """The case loaded (with its recorded mapping) but our search returned no mapping."""


@dataclass
class Comparison:
    """Our best mapping and the recorded one, both rated by our model."""

    id: str
    metrics: tuple[str, ...]
    ours: dict[str, float]
    recorded: dict[str, float]
    seconds: float
    mode: str
    candidates: int
    recorded_from: str

    def key(self, side: dict[str, float]) -> tuple[float, ...]:
        return tuple(side[m] for m in self.metrics)

    @property
    def not_worse(self) -> bool:
        """Lexicographic on the run's metrics, ties within 1e-9 relative."""
        for a, b in zip(self.key(self.ours), self.key(self.recorded)):
            if a < b * (1 - 1e-9):
                return True
            if a > b * (1 + 1e-9):
                return False
        return True

    def ratio(self, metric: str) -> float:
        return self.ours[metric] / self.recorded[metric] if self.recorded[metric] else float("nan")


def _numbers(ev) -> dict[str, float]:
    return {"energy": float(ev.energy_pj), "delay": float(ev.cycles), "edp": float(ev.energy_pj) * float(ev.cycles)}


def recorded_evaluation(case: dict[str, Any], spec, engine):
    """Our model's evaluation of the recorded best mapping, and where that mapping came from."""
    from sparse_hw.io import dump_yaml
    from sparse_hw.spec import load_spec

    cwd = EXAMPLES / case["cwd"]
    files = input_files(case)
    jinja = case.get("jinja") or None
    if case.get("mapping"):
        source = cwd / case["mapping"]
        ref_spec = load_spec([*files, source], jinja_data=jinja)
    else:
        source = (cwd / case["ref"]).with_name((cwd / case["ref"]).name.replace(".stats.txt", ".map.txt"))
        doc = map_txt_mapping(source, list(engine.problem.dataspace_names), list(engine.problem.dims))
        with tempfile.TemporaryDirectory(prefix="sparse-hw-maptxt-") as work:
            path = Path(work) / "recorded.map.yaml"
            path.write_text(dump_yaml(doc))
            ref_spec = load_spec([*files, path], jinja_data=jinja)
    return engine.evaluation(engine.compile_mapping(ref_spec.mapping), 0), source.name


def compare(case: dict[str, Any], *, budget_s: float | None = None, seed: int = 0, jobs: int = 1,
            mode: str = "auto", max_candidates: int = 0) -> Comparison:
    """Search the case with our mapper and rate both mappings with our model.

    Raises what loading raises (SparseHwError), or `SearchFailed` when the search finds nothing.
    """
    from sparse_hw.backends.analytical import map_spec, search_settings
    from sparse_hw.errors import MappingError
    from sparse_hw.model.evaluate import Engine
    from sparse_hw.spec import load_spec

    spec = load_spec(input_files(case), jinja_data=case.get("jinja") or None)
    engine = Engine.from_spec(spec)
    recorded, source = recorded_evaluation(case, spec, engine)
    overrides = {"seed": seed, "jobs": jobs, "mode": mode, "budget_s": budget_s, "max_candidates": max_candidates}
    metrics = search_settings(spec, overrides).metrics
    start = time.perf_counter()
    try:
        result, _ = map_spec(spec, overrides=overrides)
    except MappingError as exc:
        raise SearchFailed(f"{case['id']}: the search found no mapping: {exc}") from exc
    seconds = time.perf_counter() - start
    return Comparison(case["id"], tuple(metrics), _numbers(result.evaluation), _numbers(recorded), seconds,
                      result.mode, result.evaluated, source)
