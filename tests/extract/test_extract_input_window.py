"""The problem's Inputs density is the density of the padded window it describes (issue 16).

Expected counts are computed independently here: ``F.pad`` the recorded input with the layer's padding
(and mode), crop the window ``(out - 1) * stride + (kernel - 1) * dilation + 1`` and count.
"""

from __future__ import annotations

import csv
import dataclasses
import io

import pandas as pd
import pytest
import torch
import yaml
from torch import nn
from torch.nn import functional as F

from sparse_hw.errors import DataError
from sparse_hw.extract.inmemory import extract_model
from sparse_hw.extract.record import LayerRecord
from sparse_hw.extract.render import problem_densities, render_problem
from tests.extract.helpers import make_record


class _Net(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.padded = nn.Conv2d(2, 4, 3, padding=1)  # stride 1: window = padded input
        self.cut = nn.Conv2d(4, 4, 5, stride=3, padding=1)  # 14 -> 4: window 14 of 16, one real row unread
        self.reflect = nn.Conv2d(4, 4, 3, padding=1, padding_mode="reflect")  # border holds data
        self.point = nn.Conv2d(4, 4, 1)  # unpadded 1x1: the window is the input
        self.stride_only = nn.Conv2d(4, 4, 1, stride=2)  # 4 -> 2, no padding: window 3 of 4
        self.line = nn.Conv1d(4, 4, 3, stride=2, padding=2)  # 1-D, along Q

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = F.relu(self.padded(x))
        x = F.relu(self.cut(x))
        x = F.relu(self.reflect(x))
        x = F.relu(self.point(x))
        x = F.relu(self.stride_only(x))
        return self.line(x.flatten(2))


def _batches(dense: bool) -> list[torch.Tensor]:
    gen = torch.Generator().manual_seed(3)
    x = torch.randn(12, 2, 14, 14, generator=gen)
    return list((x if dense else F.relu(x)).split(5))  # 3 batches: counts are summed over them


def _expected(model: nn.Module, batches: list[torch.Tensor]) -> dict[str, tuple[int, int, int, int]]:
    """Layer -> (window nnz, window numel, input nnz, input numel), by padding and cropping."""
    seen: dict[str, list[tuple[torch.Tensor, torch.Size]]] = {}
    convs = {n: m for n, m in model.named_modules() if isinstance(m, nn.Conv1d | nn.Conv2d)}
    hooks = [m.register_forward_hook(lambda mod, a, out, n=n: seen.setdefault(n, []).append((a[0], out.shape)))
             for n, m in convs.items()]
    with torch.no_grad():
        for b in batches:
            model(b)
    for h in hooks:
        h.remove()
    out = {}
    for name, calls in seen.items():
        conv = convs[name]
        wnnz = wnumel = nnz = numel = 0
        for x, shape in calls:
            spatial = x.dim() - 2
            pads: list[int] = []
            for i in reversed(range(spatial)):
                pads += [conv.padding[i]] * 2
            mode = "constant" if conv.padding_mode == "zeros" else conv.padding_mode
            xp = F.pad(x, pads, mode=mode)
            for i in range(spatial):
                size = (shape[2 + i] - 1) * conv.stride[i] + (conv.kernel_size[i] - 1) * conv.dilation[i] + 1
                xp = xp.narrow(2 + i, 0, size)
            wnnz += int(torch.count_nonzero(xp))
            wnumel += xp.numel()
            nnz += int(torch.count_nonzero(x))
            numel += x.numel()
        out[name] = (wnnz, wnumel, nnz, numel)
    return out


@pytest.fixture(scope="module")
def extracted():
    torch.manual_seed(0)
    model = _Net().eval()
    batches = _batches(dense=False)
    records = extract_model(model, batches, calib_samples=12, batch_size=5, channels_last=False)
    return {r.layer: r for r in records}, _expected(model, batches)


def test_padded_layer_states_the_density_of_its_padded_window(extracted) -> None:
    recs, expected = extracted
    for name in ("padded", "cut", "reflect", "stride_only", "line"):
        r = recs[name]
        wnnz, wnumel, nnz, numel = expected[name]
        assert (r.input_window_nnz, r.input_window_numel) == (wnnz, wnumel), name
        assert (r.input_nnz, r.input_numel) == (nnz, numel), name  # input_density: the unpadded input
        assert r.input_density_padded == wnnz / wnumel
        dens = problem_densities(r)["Inputs"]
        assert dens.density == wnnz / wnumel and dens.distribution == "hypergeometric"
        text = render_problem(r)
        assert yaml.safe_load(text)["problem"]["instance"]["densities"]["Inputs"]["density"] == wnnz / wnumel
    # zero padding lowers the density (same nonzeros, a border of zeros); reflect padding copies data
    assert recs["padded"].input_density_padded < recs["padded"].input_density
    assert recs["padded"].input_window_nnz == recs["padded"].input_nnz
    assert (recs["padded"].input_h, recs["padded"].input_w) == (14, 14)
    assert recs["reflect"].input_window_nnz > recs["reflect"].input_nnz
    assert (recs["line"].input_h, recs["line"].input_w, recs["line"].pad_h) == (4, 1, 2)


def test_window_that_cuts_unread_rows_counts_only_the_rows_it_reads(extracted) -> None:
    recs, expected = extracted
    r = recs["cut"]
    assert (r.input_h, r.Q, r.pad_h) == (14, 4, 1)
    # padded 16, window 3*3 + 5 = 14: the top border and real rows 0..12 read, row 13 not
    assert r.input_window_numel == r.input_numel  # 14x14 of the padded 16x16, as many as the real 14x14
    assert r.input_window_nnz < r.input_nnz and r.input_window_nnz == expected["cut"][0]
    s = recs["stride_only"]  # no padding: the window is the real rows and columns 0..2 of 4
    assert (s.pad_h, s.pad_w, s.input_h, s.P) == (0, 0, 4, 2)
    assert s.input_window_numel == s.input_numel // 16 * 9 and s.input_window_nnz <= s.input_nnz


def test_unpadded_layers_are_unchanged(extracted) -> None:
    recs, expected = extracted
    r = recs["point"]
    assert r.input_density_padded == r.input_density
    assert (r.input_window_nnz, r.input_window_numel) == (r.input_nnz, r.input_numel)
    assert problem_densities(r)["Inputs"].density == r.input_density
    assert r.input_density == expected["point"][2] / expected["point"][3]


def test_dense_input_with_a_padding_border_stays_hypergeometric() -> None:
    # fixed-structured's capacity bound ceil(d x tile) would accept mappings whose dense interior tiles overflow
    torch.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(2, 3, 3, padding=1)).eval()
    records = extract_model(model, _batches(dense=True), calib_samples=12, batch_size=5, channels_last=False)
    (r,) = records
    assert r.input_density == 1.0
    assert r.input_density_padded == 14 * 14 / (16 * 16)
    dens = problem_densities(r)["Inputs"]
    assert (dens.distribution, dens.density, dens.plain) == ("hypergeometric", 14 * 14 / (16 * 16), False)
    unpadded = dataclasses.replace(r, pad_h=0, pad_w=0, input_density_padded=1.0, padded=(("M", 4),), M=3)
    assert problem_densities(unpadded)["Weights"].density == pytest.approx(r.weight_density * 3 / 4)
    assert problem_densities(unpadded)["Inputs"] == problem_densities(r)["Inputs"].__class__(
        "fixed_structured", 1.0, plain=True)  # --pad on M adds no Inputs zeros: still dense


def test_pad_scaling_composes_with_the_window() -> None:
    r = make_record(op="conv2d", R=3, S=3, P=13, Q=13, stride_h=1, stride_w=1, pad_h=1, pad_w=1, input_h=13,
                    input_w=13, input_density=0.5, input_density_padded=0.5 * 169 / 225,
                    prime_dims=(("P", 13), ("Q", 13)), padded=(("P", 14), ("Q", 14)))
    dens = problem_densities(r)["Inputs"]
    assert dens.density == pytest.approx(0.5 * 169 / 225 * 225 / 256, rel=1e-15)  # same nonzeros in 16x16


def test_records_of_older_versions_load_and_padded_ones_refuse_to_render() -> None:
    new = make_record(pad_h=1, pad_w=1, R=3, S=3, stride_h=1, stride_w=1, input_density_padded=0.4)
    row = new.to_row()
    for col in ("input_h", "input_w", "input_window_nnz", "input_window_numel", "input_density_padded"):
        del row[col]
    buf = io.StringIO()
    pd.DataFrame([row]).to_csv(buf, index=False)
    old = LayerRecord.from_row(next(csv.DictReader(io.StringIO(buf.getvalue()))))
    assert old.input_density_padded is None and old.input_h is None
    with pytest.raises(DataError, match="input_density_padded"):
        problem_densities(old)
    data = {k: v for k, v in new.to_dict().items() if not k.startswith("input_") or k in (
        "input_density", "input_nnz", "input_numel", "input_density_source")}
    unpadded = LayerRecord.from_dict(data | {"pad_h": 0, "pad_w": 0})
    assert problem_densities(unpadded)["Inputs"].density == unpadded.input_density


def test_layers_csv_checks_the_padded_density_and_reads_files_without_it(tmp_path) -> None:
    from sparse_hw.table_checks import read_layer_table

    torch.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(2, 3, 3, padding=1), nn.ReLU(), nn.Conv2d(3, 3, 1)).eval()
    extract_model(model, _batches(dense=False), calib_samples=12, batch_size=5, out=tmp_path / "ex")
    table = pd.read_csv(tmp_path / "ex" / "layers.csv")
    assert table["input_density_padded"].iloc[0] < table["input_density"].iloc[0]  # the border's zeros
    assert table["input_density_padded"].iloc[1] == table["input_density"].iloc[1]
    table.drop(columns=["input_h", "input_w", "input_window_nnz", "input_window_numel",
                        "input_density_padded"]).to_csv(tmp_path / "old.csv", index=False)
    assert len(read_layer_table(tmp_path / "old.csv")[0]) == 2
    table.loc[0, "input_density_padded"] = 1.7
    table.to_csv(tmp_path / "bad.csv", index=False)
    with pytest.raises(DataError, match="input_density_padded"):
        read_layer_table(tmp_path / "bad.csv")


def test_masks_hold_the_window_the_padded_density_counts(tmp_path) -> None:
    from sparse_hw.extract.api import extract
    from sparse_hw.extract.inmemory import raw_from_module
    from sparse_hw.extract.masks import unpack

    torch.manual_seed(0)
    model = _Net().eval()
    x = _batches(dense=False)[0][:1]
    res = extract(raw_from_module(model), batches=[x], calib_samples=1, masks=True, out=tmp_path / "ex",
                  channels_last=False)
    for r in res.records:
        mask = unpack(tmp_path / "ex" / "masks" / f"{r.order:03d}_{r.layer}.npz")["Inputs"]
        assert (int(mask.sum()), mask.size) == (r.input_window_nnz, r.input_window_numel), r.layer
