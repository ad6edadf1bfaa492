"""Sparseloop's position skipping (``position-skipping``, the MICRO'22 artifact's DSTC).

Only the artifact's own Timeloop build parses this type (accelergy-timeloop-infrastructure@
micro22-artifact pins src/timeloop 1eb0fd0a62fe, in no public repository; v3.0.3 rejects it,
NVlabs/timeloop#224), so there is no source to follow. The rule below was derived from the 16
recorded fig15 DSTC runs and reproduces all of them (cycles exactly; per-level reads, fills and
updates within 0.5 %; energy within 0.06 %); the evidence is in tests/conformance/VERSION_DRIFT.md.

DSTC packs the nonzeros of each compressed operand fiber into the spatial lanes ("position space"):
at the level L that position-skips a target t, t's tile of ``n`` elements spans ``S`` lanes (the
spatial loops of L over t's dimensions) and ``n / S`` position steps. With ``k`` nonzeros it takes
``ceil(k / S)`` steps instead, and those steps use ``k / (S ceil(k / S))`` of the lanes. With ``k``
drawn from t's density model (occupancy of an ``n``-element tile):

* ``r_t = E[ceil(k / S)] / (n / S)``: the fraction of t's position steps taken; every other target's
  reads at L happen once per step of t, so target o's reads are scaled by the product of ``r_t``
  over the other targets (its own zeros are already removed by its compressed format);
* ``u_t = E[k / (S ceil(k / S)) | k > 0]``: the average lane utilization, which scales the compute
  level's average utilized instances (so cycles = ceil(computes / (instances x prod u_t)));
* computes: only nonzero x nonzero pairs are issued, ``alg - floor(alg (1 - prod d_t))`` with each
  target's exact scalar density, and none of them is gated or skipped (the recorded runs print 0).
"""

from __future__ import annotations

import math

import msgspec
import numpy as np

from ..errors import SpecError


class PositionFactors(msgspec.Struct, frozen=True):
    """Effect of the position skipping at one level for one mapping."""

    read_scale: dict[int, float]  # target -> factor on its actual reads at the level
    utilization: float  # factor on the compute level's average utilized instances
    density: float  # fraction of the algorithmic computes that are issued


def _refuse(level_name: str, why: str) -> SpecError:
    return SpecError(
        f"position-skipping at {level_name}: {why}; only the form of the MICRO'22 artifact's DSTC "
        "(condition-on [] on the operands, at the level that feeds the compute units, with no "
        "other operand optimization) is modeled",
        key_path=f"sparse_optimizations.targets[{level_name}].action_optimization",
        fix="use skipping or skipping-spatial, or evaluate this design with --backend timeloop",
    )


def parse_options(arch, problem, gating, spatial, opts_by_level: dict[int, list[tuple[int, list[int]]]]) -> None:
    """Refuse every form the recorded runs do not cover (a refusal beats a silent wrong number)."""
    names = problem.dataspace_names
    operands = [t for t, ds in enumerate(problem.dataspaces) if not ds.read_write]
    for level, options in opts_by_level.items():
        name = arch.storage[level].name
        for target, cond in options:
            if cond:
                raise _refuse(name, f"{names[target]} conditions on {', '.join(names[c] for c in cond)}")
            if target not in operands:
                raise _refuse(name, f"{names[target]} is not an operand (read-only data space)")
        if len(opts_by_level) > 1:
            raise _refuse(name, "position skipping is given at more than one level")
        if spatial:
            raise _refuse(name, "it is combined with skipping-spatial")
        if arch.compute.compute_opts:
            raise _refuse(name, "it is combined with a compute optimization")
        for groups in gating.values():
            for _, alts in groups:
                if any(t in operands for t, _ in alts):
                    raise _refuse(name, "an operand is also gated or skipped")


def check_covered(arch, problem, ranks, opts_by_level: dict[int, list[tuple[int, list[int]]]]) -> None:
    """Every operand with a representation format must be a target (the form the recorded runs cover).

    ``ranks[level][t]`` is the parsed format (None: uncompressed). An operand with no format anywhere
    is dense to Sparseloop whatever its density (fig15's WD1.0/IAD0.82 run: all computes issued).
    """
    for level, options in opts_by_level.items():
        targets = {t for t, _ in options}
        for t, ds in enumerate(problem.dataspaces):
            formatted = any(row[t] is not None for row in ranks)
            if not ds.read_write and formatted and t not in targets:
                raise SpecError(
                    f"position-skipping at {arch.storage[level].name} leaves out {ds.name}, which has a "
                    "representation format; only designs that position-skip every compressed operand "
                    "(the MICRO'22 artifact's DSTC) are modeled",
                    key_path=f"sparse_optimizations.targets[{arch.storage[level].name}].action_optimization",
                    fix=f"add position-skipping of {ds.name}, or evaluate this design with --backend timeloop",
                )


def exact_density(dens) -> float:
    """A target's scalar density as the computes use it: nnz / size, not rounded to 6 digits."""
    if dens.kind == "dense":
        return 1.0
    if dens.kind == "hyper":
        return dens.nnz / dens.tensor_size
    return float(dens.density)


def factors(an, subnest, level_tiles_shape: dict[int, int], targets: list[int]) -> PositionFactors:
    """The position-skipping factors at one level of one mapping.

    ``subnest`` is the level's complete loop list (`SparseAnalyzer.complete_subnests`),
    ``level_tiles_shape`` each target's tile size at the level.
    """
    ratio: dict[int, float] = {}
    util = 1.0
    density = 1.0
    for t in targets:
        lanes = 1
        for lp in subnest:
            if lp.spatial and lp.dim in an.relevant[t]:
                lanes *= lp.end
        n = int(level_tiles_shape[t])
        dens = an.densities[t]
        density *= exact_density(dens)
        if n <= 0:
            ratio[t] = 1.0
            continue
        k, p = dens.occupancy_distribution(n)
        steps = np.ceil(k / lanes)
        ratio[t] = float((p * steps).sum()) / (n / lanes)
        nz = k > 0
        if nz.any() and float(p[nz].sum()) > 0:
            util *= float((p[nz] * (k[nz] / (lanes * steps[nz]))).sum() / p[nz].sum())
    scale = {t: math.prod(ratio[o] for o in targets if o != t) for t in targets}
    return PositionFactors(scale, util, density)


def issued_computes(algorithmic: float, density: float) -> float:
    """Computes the position-skipped array issues (nonzero x nonzero pairs), floored as Timeloop does."""
    return algorithmic - math.floor(algorithmic * (1.0 - density) + 1e-9)
