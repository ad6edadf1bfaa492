"""Functional products (attention's QK^T and AV, einsum, bmm, F.linear, W @ x) are extracted as layers."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F
from torch import nn

import sparse_hw
from sparse_hw.extract.matmul import Unexpressed, einsum_operands, product_dims
from sparse_hw.extract.render import check_problem
from sparse_hw.train.models import create_model

SAMPLES, BATCH = 24, 8


def _batches(shape, seed=0):
    g = torch.Generator().manual_seed(seed)
    return [torch.rand(BATCH, *shape, generator=g) for _ in range(SAMPLES // BATCH)]


def _vit(attention: str) -> nn.Module:
    torch.manual_seed(0)
    model = create_model("vit", attention=attention).eval()
    with torch.no_grad():  # zeros in q (head 0), k (first 4 channels of every head) and v (head 3)
        qkv = model.blocks[0].attn.qkv
        dim = qkv.in_features
        rows = [*range(8), *range(dim, 2 * dim, 8), *range(dim + 1, 2 * dim, 8), *range(3 * dim - 8, 3 * dim)]
        qkv.weight[rows] = 0.0
        qkv.bias[rows] = 0.0
    return model


def _independent_counts(model: nn.Module, batches) -> dict[str, tuple[int, int]]:
    """(nnz, numel) of q, k, softmax(qk^T) and v of block 0, computed by hand from the block's input."""
    attn = model.blocks[0].attn
    seen = []
    handle = attn.register_forward_pre_hook(lambda mod, args: seen.append(args[0].detach().clone()))
    with torch.no_grad():
        for x in batches:
            model(x)
    handle.remove()
    counts = {k: [0, 0] for k in ("q", "k", "probs", "v", "scores")}
    for x in seen:
        b, t, d = x.shape
        qkv = (x @ attn.qkv.weight.T + attn.qkv.bias).reshape(b, t, 3, attn.heads, attn.head_dim)
        q, k, v = (qkv[:, :, i].transpose(1, 2) for i in range(3))
        scores = q @ k.transpose(-1, -2) / math.sqrt(attn.head_dim)
        for name, tensor in (("q", q), ("k", k), ("v", v), ("probs", scores.softmax(-1)), ("scores", scores)):
            counts[name][0] += int((tensor != 0).sum())
            counts[name][1] += tensor.numel()
    return {k: (v[0], v[1]) for k, v in counts.items()}


@pytest.mark.parametrize("attention, names", [("sdpa", ("sdpa0.qk", "sdpa0.av")), ("matmul", ("matmul0", "matmul1"))])
def test_vit_attention_products_have_the_module_shapes_and_measured_densities(attention, names):
    model = _vit(attention)
    batches = _batches((1, 8, 8))
    recs = sparse_hw.extract(model, batches, calib_samples=SAMPLES, batch_size=BATCH)
    by_name = {r.layer: r for r in recs}
    attn = model.blocks[0].attn
    tokens, heads, head_dim = 17, attn.heads, attn.head_dim  # 16 patches of 2x2 + the class token
    qk, av = by_name[f"blocks.0.attn.{names[0]}"], by_name[f"blocks.0.attn.{names[1]}"]
    # QK^T: per head, tokens x head_dim times head_dim x tokens
    assert (qk.op, qk.G, qk.Q, qk.C, qk.M, qk.N, qk.R, qk.S, qk.P) == ("matmul", heads, tokens, head_dim, tokens,
                                                                       1, 1, 1, 1)
    # AV: per head, tokens x tokens times tokens x head_dim
    assert (av.G, av.Q, av.C, av.M) == (heads, tokens, tokens, head_dim)
    assert qk.macs == heads * tokens * tokens * head_dim == av.macs
    # the products sit between qkv and proj, in execution order
    order = [r.layer for r in recs]
    assert order.index("blocks.0.attn.qkv") < order.index(qk.layer) < order.index(av.layer) \
        < order.index("blocks.0.attn.proj")
    assert [r.order for r in recs] == list(range(len(recs)))
    counts = _independent_counts(model, batches)
    assert (qk.input_nnz, qk.input_numel) == counts["q"]
    assert qk.input_density == pytest.approx(0.75)  # head 0 of q is all zero
    assert qk.weight_density == pytest.approx(counts["k"][0] / counts["k"][1])
    assert qk.weight_density == pytest.approx(0.75)  # channels 0 and 1 of every head of k are zero
    assert (av.input_nnz, av.input_numel) == counts["probs"]
    assert av.weight_density == pytest.approx(counts["v"][0] / counts["v"][1]) == pytest.approx(0.75)
    assert qk.output_density == pytest.approx(counts["scores"][0] / counts["scores"][1], abs=1e-3)
    assert qk.params == 0 and qk.pattern == "activation" and qk.density_model == "hypergeometric"
    # a layer keeps its own numbers: qkv is still the nn.Linear with its weights
    assert by_name["blocks.0.attn.qkv"].op == "linear" and by_name["blocks.0.attn.qkv"].params == 32 * 96


class Mixed(nn.Module):
    """Every kind of product the tracer knows, and two it cannot express."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(1, 4, 3, padding=1)
        self.w = nn.Parameter(torch.randn(16, 12))
        self.left = nn.Parameter(torch.randn(6, 4))
        self.proj = nn.Parameter(torch.randn(10, 12))

    def forward(self, x):
        h = F.relu(self.conv(x)).flatten(2)  # [B, 4, 64]
        g = torch.einsum("bcl,bdl->bcd", h, h)  # [B, 4, 4]: G=1, Q=4, C=64, M=4
        y = torch.bmm(g, h)[..., :16]  # [B, 4, 16]
        y = y @ self.w  # shared weight: Q = 4 rows per sample, C=16, M=12
        z = torch.matmul(self.left, y.transpose(1, 2).transpose(1, 2))  # W @ x: [6, 4] @ [B, 4, 12]
        torch.einsum("bij,bjk->bi", y, y.transpose(1, 2))  # k summed within one operand: not a product
        causal = F.scaled_dot_product_attention(y, y, y, is_causal=True)
        return F.linear(z.flatten(1)[:, :12] + causal.sum((1, 2))[:, None], self.proj)


def test_every_product_kind_and_the_unexpressed_ones_are_named(tmp_path):
    recs = sparse_hw.extract(Mixed(), _batches((1, 8, 8), seed=1), calib_samples=SAMPLES, batch_size=BATCH,
                             out=tmp_path / "ex")
    got = {r.layer: (r.G, r.Q, r.C, r.M) for r in recs if r.op == "matmul"}
    assert got == {
        "einsum0": (1, 4, 64, 4),
        "bmm0": (1, 4, 4, 64),
        "matmul0": (1, 4, 16, 12),
        "matmul1": (1, 12, 4, 6),  # transposed: x^T [12 x 4] @ W^T [4 x 6]
        "sdpa0.qk": (1, 4, 12, 4),
        "sdpa0.av": (1, 4, 4, 12),
        "linear0": (1, 1, 12, 10),
    }
    by = {r.layer: r for r in recs}
    assert by["matmul0"].pattern == "dense" and by["matmul0"].params == 16 * 12  # a parameter keeps its weights
    assert by["linear0"].params == 120
    # causal attention: the probabilities are zero above the diagonal, so (1+2+3+4)/16 of them are nonzero
    # at most (softmax may underflow to zero too); every row keeps its maximum, so 4/16 at least
    assert 4 / 16 <= by["sdpa0.av"].input_density <= 10 / 16
    note = next(n for n in recs.notes if n.startswith("products without"))
    assert "einsum1" in note and "summed within one operand" in note
    # the written problems read back (grouped where G > 1), and the table lists every product
    table = recs.to_pandas()
    assert set(got) <= set(table["layer"])
    for path in recs.problems:
        rec = next(r for r in recs if path.name.endswith(f"_{r.layer}.yaml"))
        check_problem(path, rec)


def test_product_dims_rules():
    assert product_dims((8, 4, 17, 8), (8, 4, 8, 17), 8)[0] == {"N": 1, "G": 4, "C": 8, "M": 17, "R": 1, "S": 1,
                                                                "P": 1, "Q": 17}
    assert product_dims((8, 17, 32), (32, 10), 8)[0]["Q"] == 17
    assert product_dims((64, 32), (32, 10), 8)[0]["Q"] == 8  # rows of a flattened batch
    # a shared vector times per-sample matrices: transposed, the vector is the shared second operand
    assert product_dims((32,), (8, 32, 10), 8) == ({"N": 1, "G": 1, "C": 32, "M": 1, "R": 1, "S": 1, "P": 1,
                                                    "Q": 10}, True)
    with pytest.raises(Unexpressed):
        product_dims((4, 8, 17, 8), (4, 8, 8, 17), 8)  # the batch is the second axis
    with pytest.raises(Unexpressed):
        product_dims((5, 3), (3, 7), 8)
    a, b = einsum_operands("bhqd,bhkd->bhqk", torch.zeros(2, 3, 5, 4), torch.zeros(2, 3, 6, 4))
    assert a.shape == (2, 3, 5, 4) and b.shape == (2, 3, 4, 6)
    with pytest.raises(Unexpressed):
        einsum_operands("...ij,...jk->...ik", torch.zeros(2, 2), torch.zeros(2, 2))


class SumWithin(nn.Module):
    """A linear layer, then an einsum that sums within one operand: no Timeloop form (issue 14)."""

    def __init__(self) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.fc = nn.Linear(12, 8)

    def forward(self, x):
        y = F.relu(self.fc(x)).view(-1, 2, 4)  # [B, 2, 4]
        s = torch.einsum("bij,bjk->bi", y, y.transpose(1, 2))  # k summed within one operand
        return y.flatten(1) + s.sum(1, keepdim=True)


def test_an_unexpressible_layer_is_a_row_simulate_skips_it_and_the_report_lists_it(tmp_path, capsys):
    import pandas as pd

    from sparse_hw import pipeline

    recs = sparse_hw.extract(SumWithin(), _batches((12,)), calib_samples=SAMPLES, batch_size=BATCH,
                             out=tmp_path / "ex")
    # a row of layers.csv and of the in-memory table, with the reason; no problem file
    table = pd.read_csv(tmp_path / "ex" / "layers.csv")
    row = table[table["layer"] == "einsum0"].iloc[0]
    assert not row["modeled"] and "summed within one operand" in row["reason"]
    assert pd.isna(row["macs"]) and pd.isna(row["C"])
    assert table.loc[table["layer"] == "fc", "modeled"].tolist() == [True]
    assert table.loc[table["layer"] == "fc", "C"].tolist() == [12]  # whole numbers stay whole
    mem = recs.to_pandas()
    assert mem.loc[mem["layer"] == "einsum0", "reason"].item() == row["reason"]
    assert [p.name for p in recs.problems] == ["000_fc.yaml"]
    # simulate skips it with one stderr line, and its results have no row for it
    capsys.readouterr()
    pipeline.simulate([tmp_path / "ex"], ["eyeriss_like"], out=tmp_path / "sim", workers=1, budget_s=5)
    err = capsys.readouterr().err
    assert "skipped layer einsum0" in err and "summed within one operand" in err
    results = pd.read_csv(tmp_path / "sim" / "results.csv")
    assert results["layer"].tolist() == ["fc"] and "reason" not in results.columns
    # the report keeps it in its layer table, with empty energy and the reason, and says so
    rep = sparse_hw.report(tmp_path / "sim", out=tmp_path / "rep")
    layers = pd.read_csv(tmp_path / "rep" / "layers.csv")
    skipped = layers[layers["layer"] == "einsum0"].iloc[0]
    assert pd.isna(skipped["energy_pj"]) and "summed within one operand" in skipped["reason"]
    assert any("1 layer(s) not modeled" in n and "einsum0" in n for n in rep.notes)
    assert rep.summary["energy_pj"].notna().all()  # the totals are those of the modeled layers
    assert rep.summary["energy_pj"].iloc[0] == pytest.approx(results["energy_pj"].sum())
    # a second extract is byte-identical
    sparse_hw.extract(SumWithin(), _batches((12,)), calib_samples=SAMPLES, batch_size=BATCH, out=tmp_path / "ex2")
    assert (tmp_path / "ex2" / "layers.csv").read_bytes() == (tmp_path / "ex" / "layers.csv").read_bytes()
    # layers.csv checks accept the row but still refuse bad ones
    from sparse_hw.errors import DataError
    from sparse_hw.table_checks import read_layer_table

    modeled, unmodeled = read_layer_table(tmp_path / "ex" / "layers.csv")
    assert modeled["layer"].tolist() == ["fc"] and unmodeled["layer"].tolist() == ["einsum0"]
    for column, value, message in (("reason", "", "reason is blank"), ("modeled", "maybe", "not True or False")):
        bad = table.copy()
        bad[column] = bad[column].astype(object)
        bad.loc[bad["layer"] == "einsum0", column] = value
        bad.to_csv(tmp_path / "bad.csv", index=False)
        with pytest.raises(DataError, match=message):
            read_layer_table(tmp_path / "bad.csv")
    bad = table.copy()
    bad["C"] = bad["C"].astype(object)
    bad.loc[bad["layer"] == "fc", "C"] = None  # a modeled row still needs its dimensions
    bad.to_csv(tmp_path / "bad.csv", index=False)
    with pytest.raises(DataError, match="line 2 .layer fc.: C is blank"):
        read_layer_table(tmp_path / "bad.csv")
