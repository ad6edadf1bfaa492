"""The MICRO'22 artifact's fig12 setup (Eyeriss v2 PE, sparse MobileNet-0.5): paths, ground truth and
one layer's evaluation, shared by tests/model/test_actual_density.py and benchmarks/actual_vs_statistical.py."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
ARTIFACT = ROOT.parent / "shared/reference/examples/artifact/workspace/2022.micro.artifact"
FIG12 = ARTIFACT / "evaluation_setups/fig12_eyerissv2_pe_setup"


def ground_truth() -> dict[str, int]:
    """Cycles of each layer on the Eyeriss v2 PE (``results-summary/num-cycles/ground_truth.txt``)."""
    text = (FIG12 / "results-summary/num-cycles/ground_truth.txt").read_text()
    return {m.group(1): int(m.group(2)) for m in re.finditer(r"(L\d+)\.txt:CYC:\s*(\d+)", text)}


def evaluate(layer: str, density: str):
    """Our Evaluation of one layer's recorded perfect-factor mapping with the workload folder ``density``
    (``uniform`` or ``actual_data``)."""
    from sparse_hw.model.evaluate import Engine
    from sparse_hw.spec import load_spec

    files = [
        FIG12 / f"workload/mobilenet0.5-sparse/{density}/{layer}.yaml",
        FIG12 / "hardware-specs/designs/arch.yaml",
        FIG12 / "hardware-specs/configurations/SI-SW.yaml",
        FIG12 / "ert_art/ERT.yaml",
        FIG12 / "ert_art/ART.yaml",
        FIG12 / f"mappings/mobilenet0.5-sparse/{layer}-perfect_factor.yaml",
    ]
    spec = load_spec(files)
    engine = Engine.from_spec(spec)
    return engine.evaluation(engine.compile_mapping(spec.mapping), 0)
