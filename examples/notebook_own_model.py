"""Your own network, from a notebook: no registry, no folders, no checkpoint format.

Run it as a script (``python examples/notebook_own_model.py``) or paste the cells into Jupyter. It
defines a small attention model, trains it briefly on scikit-learn's 8x8 digits, prunes it 2:4, and
asks what that buys on a sparse accelerator:

1. ``sparse_hw.extract(model, loader)`` measures every layer *and* the attention products (QK^T, AV);
2. ``sparse_hw.simulate(records, archs=[...])`` maps and evaluates them;
3. ``sparse_hw.report(results)`` gives the summary tables and matplotlib Figures.

Nothing is written unless you pass ``out=`` to a stage (then that folder is written atomically, as the
CLI writes it). ``--samples`` and ``--train-steps`` keep the test that runs this script short.
"""

# %% imports
from __future__ import annotations

import argparse
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

import sparse_hw
from sparse_hw.train.data import load_dataset
from sparse_hw.train.prune.nm import nm_mask


# %% a model of your own (not in sparse-hw's registry)
class TinyAttention(nn.Module):
    """Rows of the 8x8 digit as 8 tokens, one attention layer, an MLP and a classifier."""

    def __init__(self, dim: int = 16, heads: int = 2, classes: int = 10) -> None:
        super().__init__()
        self.embed = nn.Linear(8, dim)
        self.qkv = nn.Linear(dim, 3 * dim)
        self.out = nn.Linear(dim, dim)
        self.fc = nn.Linear(dim, 32)
        self.head = nn.Linear(32 * 8, classes)
        self.heads = heads

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b = x.shape[0]
        t = self.embed(x.reshape(b, 8, 8))  # [B, tokens, dim]
        q, k, v = self.qkv(t).reshape(b, 8, 3, self.heads, -1).permute(2, 0, 3, 1, 4)
        a = F.scaled_dot_product_attention(q, k, v).transpose(1, 2).reshape(b, 8, -1)
        h = F.relu(self.fc(t + self.out(a)))
        return self.head(h.flatten(1))


def build() -> nn.Module:
    """The factory ``sparse-hw extract --model-factory examples.notebook_own_model:build`` calls."""
    torch.manual_seed(0)
    return TinyAttention()


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--samples", type=int, default=256, help="calibration samples")
    parser.add_argument("--train-steps", type=int, default=200, help="optimizer steps of the quick training")
    parser.add_argument("--arch", action="append", help="architectures (default eyeriss_like)")
    parser.add_argument("--out", type=Path, default=None, help="also write every stage's folder here")
    args = parser.parse_args(argv)
    archs = args.arch or ["eyeriss_like"]

    # %% data: a plain DataLoader of (image, label) batches
    bundle = load_dataset("digits", seed=0)
    loader = torch.utils.data.DataLoader(bundle.train, batch_size=32, shuffle=True,
                                         generator=torch.Generator().manual_seed(0))
    calib = torch.utils.data.DataLoader(bundle.test, batch_size=64)

    # %% train briefly, then prune 2:4 (2 of every 4 weights along the input features) and fine-tune
    torch.manual_seed(0)
    model = build()
    opt = torch.optim.Adam(model.parameters(), lr=3e-3)
    steps = 0
    while steps < args.train_steps:
        for x, y in loader:
            opt.zero_grad()
            F.cross_entropy(model(x), y).backward()
            opt.step()
            steps += 1
            if steps >= args.train_steps:
                break
    dense = build()
    dense.load_state_dict(model.state_dict())
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, nn.Linear):
                m.weight.mul_(nm_mask(m.weight, 2, 4))

    # %% 1. extract: records of every layer and attention product, as a table
    stages = {}
    for name, net in (("dense", dense), ("2:4", model)):
        out = args.out / f"extract_{name.replace(':', '_')}" if args.out else None
        stages[name] = sparse_hw.extract(net, calib, calib_samples=args.samples, out=out)
    table = stages["2:4"].to_pandas()
    print(table[["layer", "op", "G", "C", "M", "Q", "weight_density", "input_density", "pattern"]].to_string())

    # %% 2. simulate both on the architectures
    results = sparse_hw.simulate(list(stages.values()), archs=archs,
                                 out=args.out / "simulate" if args.out else None)
    print(results.to_pandas()[["checkpoint", "layer", "arch", "energy_pj", "cycles"]].to_string())

    # %% 3. report: summary tables and Figures (fig.savefig(...) or display them in the notebook)
    view = sparse_hw.report(results, out=args.out / "report" if args.out else None)
    print(view.summary[["checkpoint", "arch", "energy_pj", "cycles"]].to_string())
    print("figures:", ", ".join(view.figures))
    return {"records": stages, "results": results, "report": view}


if __name__ == "__main__":
    main()
