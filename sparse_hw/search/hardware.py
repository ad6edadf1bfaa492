"""A trial's hardware cost: map each layer once per (layer shape, architecture, density bucket), then
evaluate that mapping with the layer's exact densities.

The simulate stage's result cache (`sparse_hw.sweep.ResultCache`) keys a job on its problem file's bytes;
the mapping job here reads a problem file rewritten with every density rounded to the centre of its
bucket and with no comment lines, so two layers of one shape (or one layer in two trials) whose densities
fall in the same buckets share one file, hence one cache entry: a trial re-maps only the layers whose
densities left their bucket. The chosen mapping is then evaluated exactly (`BuiltinBackend.model`, one
engine evaluation, no search); should the exact densities make that mapping invalid, the layer is mapped
with its exact densities instead.
"""

from __future__ import annotations

import math
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import MappingError, SparseHwError
from ..io import atomic_write, dump_yaml, load_yaml, sha256_bytes


@dataclass
class LayerCost:
    energy_pj: float
    cycles: float
    remapped: bool


@dataclass
class HardwareCost:
    """Per-architecture totals of one network, plus what it took."""

    energy_pj: dict[str, float] = field(default_factory=dict)
    cycles: dict[str, float] = field(default_factory=dict)
    layers: dict[str, list[LayerCost]] = field(default_factory=dict)
    mapped: int = 0
    """Mapping searches run (cache misses)."""
    fallbacks: int = 0
    """Layers whose bucket mapping did not fit the exact densities (mapped exactly instead)."""

    def metric(self, arch: str, name: str) -> float:
        if name == "energy":
            return self.energy_pj[arch]
        if name == "cycles":
            return self.cycles[arch]
        return self.energy_pj[arch] * self.cycles[arch]


def bucket_density(d: float, width: float) -> float:
    """Centre of the bucket holding ``d`` (1.0 stays 1.0)."""
    if d >= 1.0:
        return 1.0
    return round(min(1.0, (math.floor(d / width) + 0.5) * width), 6)


def bucketed_problem(problem_file: Path, width: float, folder: Path) -> Path:
    """The problem with bucketed densities, stored under its content hash in ``folder``."""
    data = load_yaml(problem_file)
    densities = data["problem"]["instance"].get("densities") or {}
    for spec in densities.values():
        if isinstance(spec, dict) and "density" in spec:
            spec["density"] = bucket_density(float(spec["density"]), width)
    text = dump_yaml(data)
    path = folder / f"{sha256_bytes(text)[:24]}.yaml"
    if not path.is_file():
        atomic_write(path, text)
    return path


class HardwareModel:
    """Map-and-evaluate with a persistent mapping cache (one SQLite file per search folder)."""

    def __init__(self, archs: list[str], *, cache_dir: Path, bucket: float, seed: int,
                 budget_s: float | None, metrics: list[str] | None) -> None:
        from ..pipeline import arch_exploits
        from ..spec.library import architecture_files
        from ..sweep import ResultCache, job_settings

        self.archs = list(archs)
        self.bucket = bucket
        self.folder = Path(cache_dir)
        self.problems = self.folder / "problems"
        self.problems.mkdir(parents=True, exist_ok=True)
        self.arch_files = {a: tuple(str(p) for p in architecture_files(a)) for a in archs}
        self.exploits = {a: arch_exploits(a) for a in archs}
        self.settings = job_settings(seed=seed, budget_s=budget_s, metrics=tuple(metrics) if metrics else None,
                                     pad=False)
        self.cache = ResultCache(self.folder / "mappings.sqlite")

    def close(self) -> None:
        self.cache.close()

    def _jobs(self, problem_files: list[Path], arch: str):
        from ..sweep import LayerJob

        return [LayerJob(model="search", checkpoint="bucket", layer=p.stem, order=i, problem_file=str(p), arch=arch,
                         arch_files=self.arch_files[arch], backend="builtin", settings=self.settings)
                for i, p in enumerate(problem_files)]

    def _run(self, jobs) -> list[Any]:
        from ..sweep import run_sweep

        results = run_sweep(jobs, cache=self.cache, workers=1)
        failed = [r for r in results if r.error]
        if failed:
            raise MappingError(f"{failed[0].job.label()}: {failed[0].error}",
                               fix="`sparse-hw map --arch ARCH PROBLEM.yaml` on the problem gives the full diagnosis")
        return results

    def evaluate(self, problem_files: list[Path], *, exact: bool = False) -> HardwareCost:
        """Cost of the network whose layers are ``problem_files`` on every architecture. ``exact``: map with
        the exact densities (the final front) instead of reusing bucket mappings."""
        from ..backends.analytical import BuiltinBackend
        from ..model.result import Evaluation

        cost = HardwareCost()
        for arch in self.archs:
            inputs = problem_files if exact else [bucketed_problem(p, self.bucket, self.problems)
                                                  for p in problem_files]
            results = self._run(self._jobs(inputs, arch))
            cost.mapped += sum(not r.cached for r in results)
            layers = []
            for problem, res in zip(problem_files, results):
                if exact:
                    ev = Evaluation.from_json(res.payload["evaluation"])
                    layers.append(LayerCost(ev.energy_pj, ev.cycles, not res.cached))
                    continue
                try:
                    with tempfile.TemporaryDirectory(prefix="sparse-hw-search-") as tmp:
                        mapping = Path(tmp) / "map.yaml"
                        mapping.write_text(res.payload["mapping_yaml"], encoding="utf-8")
                        ev = BuiltinBackend().model([*map(Path, self.arch_files[arch]), problem, mapping])
                    layers.append(LayerCost(ev.energy_pj, ev.cycles, not res.cached))
                except SparseHwError:
                    cost.fallbacks += 1
                    (again,) = self._run(self._jobs([problem], arch))
                    ev = Evaluation.from_json(again.payload["evaluation"])
                    layers.append(LayerCost(ev.energy_pj, ev.cycles, True))
            cost.layers[arch] = layers
            cost.energy_pj[arch] = float(sum(c.energy_pj for c in layers))
            cost.cycles[arch] = float(sum(c.cycles for c in layers))
        return cost
