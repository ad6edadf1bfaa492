"""GMP 0.9 on PointNet++ / synthetic-shapes against the dense model trained in the same process.

Trains the dense baseline, then prunes it with gradual magnitude pruning to 90% sparsity (starting
from the dense checkpoint) and fine-tunes; prints both accuracies, their difference, the achieved
sparsity, the wall time of each run and the CPU latency ratio (no pass/fail; the slow test
``tests/train/test_train_pointnet2_slow.py`` asserts the 3-point claim).

    python benchmarks/train_pointnet2_gmp.py [--epochs 8] [--prune-epochs 5] [--finetune-epochs 2] [--rotation z]
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from sparse_hw.train import TrainConfig, train


def run(epochs: int, prune_epochs: int, finetune_epochs: int, sparsity: float, seed: int, data_options: dict,
        distribution: str, folder: Path) -> dict:
    """Dense run, then GMP from the dense checkpoint; the figures of both."""
    common = {"model": "pointnet2", "data": "synthetic-shapes", "data_options": data_options, "seed": seed}
    dense = train(TrainConfig(**common, epochs=epochs, out=folder / "dense.pt"))
    gmp = train(TrainConfig(**common, epochs=0, methods=["gmp"], sparsity=sparsity, prune_epochs=prune_epochs,
                            finetune_epochs=finetune_epochs, init_checkpoint=folder / "dense.pt",
                            gmp_distribution=distribution,
                            out=folder / "gmp.pt"))
    return {
        "data_options": dense.meta.dataset_options, "model_kwargs": dense.meta.model_kwargs,
        "test_samples": dense.meta.dataset_options["per_class_test"] * dense.meta.num_classes,
        "gmp_distribution": distribution, "dense_epochs": epochs, "gmp_prune_epochs": prune_epochs,
        "gmp_finetune_epochs": finetune_epochs, "dense_accuracy": dense.meta.accuracy_after,
        "dense_macro_f1": dense.meta.macro_f1_after, "gmp_accuracy": gmp.meta.accuracy_after,
        "gmp_macro_f1": gmp.meta.macro_f1_after, "accuracy_delta_pt": 100 * (gmp.meta.accuracy_after
                                                                              - dense.meta.accuracy_after),
        "target_sparsity": sparsity, "achieved_sparsity": gmp.meta.achieved_weight_sparsity,
        "dense_wall_s": dense.wall_seconds, "gmp_wall_s": gmp.wall_seconds,
        # Both latencies come from the GMP run, measured interleaved with its dense starting point.
        "latency_ratio_b1": gmp.after.latency_ms[1] / gmp.before.latency_ms[1],
        "latency_ratio_b32": gmp.after.latency_ms[32] / gmp.before.latency_ms[32],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=8)
    parser.add_argument("--prune-epochs", type=int, default=5)
    parser.add_argument("--finetune-epochs", type=int, default=2)
    parser.add_argument("--sparsity", type=float, default=0.9)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--rotation", default="z", choices=["none", "z", "so3"])
    parser.add_argument("--distribution", default="global", choices=["global", "uniform", "erk"])
    parser.add_argument("--json", action="store_true", help="print one JSON object instead of lines")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        figures = run(args.epochs, args.prune_epochs, args.finetune_epochs, args.sparsity, args.seed,
                      {"rotation": args.rotation}, args.distribution, Path(tmp))
    if args.json:
        print(json.dumps(figures))
        return
    print(f"dense     accuracy {figures['dense_accuracy']:.4f}  macro-F1 {figures['dense_macro_f1']:.4f}  "
          f"({args.epochs} epochs, {figures['dense_wall_s']:.0f} s, {figures['test_samples']} test clouds)")
    print(f"gmp {args.sparsity:.2f} ({args.distribution})  accuracy {figures['gmp_accuracy']:.4f}  macro-F1 {figures['gmp_macro_f1']:.4f}  "
          f"({args.prune_epochs} pruning + {args.finetune_epochs} fine-tuning epochs from the dense model, "
          f"{figures['gmp_wall_s']:.0f} s)")
    print(f"accuracy gmp - dense: {figures['accuracy_delta_pt']:+.2f} points; achieved sparsity "
          f"{figures['achieved_sparsity']:.4f}")
    print(f"CPU latency gmp/dense: batch 1 {figures['latency_ratio_b1']:.2f}x, batch 32 {figures['latency_ratio_b32']:.2f}x")


if __name__ == "__main__":
    main()
