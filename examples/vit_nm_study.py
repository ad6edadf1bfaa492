"""What does 2:4 buy compared with unstructured sparsity at the same density? ViT on digits, on eyeriss_v2 and on
the sparse tensor core.

Three checkpoints of the zoo's ViT (2x2 patches of the 8x8 digits, width 32, 4 heads, 2 blocks): dense; 2:4
(``nm``, one-shot from the dense weights, then fine-tuned with the masks); 50 % unstructured (``l1``, the same
way). Every layer and attention product is extracted on 256 test samples and simulated on ``eyeriss_v2``
(exploits unstructured weight and input zeros) and ``sparse_tensor_core`` (exploits 2:4 weights only).
Prints the summary table (energy, cycles, and each against the dense checkpoint on the same architecture).

    python examples/vit_nm_study.py [--out results/vit_nm_study]
"""

from __future__ import annotations

import argparse
from pathlib import Path

import sparse_hw
from sparse_hw.train import TrainConfig, train

ARCHS = ["eyeriss_v2", "sparse_tensor_core"]
COLUMNS = ["method", "target_sparsity", "accuracy", "arch", "energy_pj", "cycles", "energy_ratio_to_dense",
           "cycles_ratio_to_dense"]


def main(argv: list[str] | None = None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("results/vit_nm_study"))
    parser.add_argument("--samples", type=int, default=256)
    parser.add_argument("--epochs", type=int, default=8)
    args = parser.parse_args(argv)
    base = {"model": "vit", "data": "digits", "measure_latency": False, "seed": 0}
    dense = args.out / "dense.pt"
    train(TrainConfig(**base, epochs=args.epochs, out=dense))
    runs = {"dense": dense}
    for name, extra in (("nm24", {"methods": ["nm"], "nm": "2:4"}), ("l1_50", {"methods": ["l1"], "sparsity": 0.5})):
        runs[name] = args.out / f"{name}.pt"
        train(TrainConfig(**base, **extra, epochs=0, finetune_epochs=2, init_checkpoint=dense, out=runs[name]))
    records = [sparse_hw.extract(path, calib_samples=args.samples, out=args.out / "extract" / name)
               for name, path in runs.items()]
    results = sparse_hw.simulate(records, archs=ARCHS, out=args.out / "simulate")
    view = sparse_hw.report(results, out=args.out / "report")
    table = view.summary[[c for c in COLUMNS if c in view.summary.columns]]
    print(table.to_string(index=False))
    return view


if __name__ == "__main__":
    main()
