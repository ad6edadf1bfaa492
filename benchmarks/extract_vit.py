"""Extraction speed of the ViT with attention: 256 calibration samples of digits, budget 5 s (issue 14).

Times the whole ``sparse_hw.extract.extract`` call on a 2:4-pruned ViT checkpoint (read it, load digits,
discover the dataflow, run the calibration batches with counting hooks and the matmul tracer, detect the
pruning patterns, render and check every problem YAML, write the tables), once per attention spelling
(``F.scaled_dot_product_attention`` and explicit ``torch.matmul``). The first call warms imports up and
is not counted. Prints the median and its ratio to the budget.

    python benchmarks/extract_vit.py [--repeats 3] [--samples 256]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import torch

from sparse_hw.extract import extract
from sparse_hw.train.checkpoint import CheckpointMeta, save_checkpoint
from sparse_hw.train.models import create_model, resolve_model_kwargs
from sparse_hw.train.prune.nm import nm_mask

BUDGET_S = 5.0


def checkpoint(folder: Path, attention: str) -> Path:
    torch.manual_seed(0)
    kwargs = {"attention": attention}
    model = create_model("vit", **kwargs)
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, torch.nn.Linear):
                m.weight.mul_(nm_mask(m.weight, 2, 4))
    meta = CheckpointMeta(model_name="vit", model_kwargs=resolve_model_kwargs("vit", kwargs),
                          method=["nm"], dataset="digits", input_shape=[1, 8, 8], num_classes=10, seed=0)
    return save_checkpoint(folder / f"vit_{attention}.pt", model, meta)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--samples", type=int, default=256)
    args = parser.parse_args()
    torch.set_num_threads(1)
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        for attention in ("sdpa", "matmul"):
            ckpt = checkpoint(root, attention)
            extract(ckpt, out=root / "warm", calib_samples=args.samples, force=True)
            times = []
            for i in range(args.repeats):
                t = time.perf_counter()
                result = extract(ckpt, out=root / f"ex{i}", calib_samples=args.samples)
                times.append(time.perf_counter() - t)
            products = sum(r.op == "matmul" for r in result.records)
            median = statistics.median(times)
            phases = ", ".join(f"{k} {v:.2f} s" for k, v in result.seconds.items())
            print(f"vit ({attention}): {len(result.records)} layers ({products} attention products), "
                  f"{args.samples} samples: median {median:.2f} s of {args.repeats} = {median / BUDGET_S:.0%} of the "
                  f"{BUDGET_S:.0f} s budget [{phases}]")


if __name__ == "__main__":
    main()
