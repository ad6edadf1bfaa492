"""``extract --masks``: one calibration sample's nonzero masks, bit-packed, in the problem's rank order.

The expected masks are built here independently of sparse_hw.extract.masks: straight from the torch
tensors, transposed to the projection's rank order and flattened in Fortran order (first rank
fastest, Timeloop's linearisation), the inputs with the convolution's zero border.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from typer.testing import CliRunner

from sparse_hw.cli import app
from sparse_hw.errors import ConfigError, SpecError
from sparse_hw.extract.api import extract
from sparse_hw.extract.loader import build, read_checkpoint
from sparse_hw.extract.masks import pack, unpack
from sparse_hw.model.masks import read_mask
from tests.extract.helpers import lenet_checkpoint, seeded_batches


@pytest.fixture(scope="module")
def one_sample(tmp_path_factory):
    """(checkpoint, the single calibration sample, extract folder measured on exactly that sample)."""
    root = tmp_path_factory.mktemp("masks")
    ckpt = lenet_checkpoint(root / "gmp.pt")
    x = seeded_batches((1, 8, 8), n=1, batch=1, seed=3)[0]
    res = extract(ckpt, out=root / "ex", batches=[x], seed=0, masks=True)
    return ckpt, x, res


def _expected(ckpt: Path, x: torch.Tensor) -> dict[str, dict[str, np.ndarray]]:
    model = build(read_checkpoint(ckpt)).model.eval()
    seen: dict[str, tuple[torch.Tensor, torch.Tensor]] = {}
    handles = [m.register_forward_hook(lambda mod, a, o, n=n: seen.__setitem__(n, (a[0], o)))
               for n, m in model.named_modules() if isinstance(m, torch.nn.Conv2d | torch.nn.Linear)]
    with torch.no_grad():
        model(x)
    for h in handles:
        h.remove()
    out = {}
    consumers = {"fc1": "fc2", "fc2": "fc3"}  # LeNet-5: relu only in between (same shape)
    for name, (inp, outp) in seen.items():
        if name in consumers:
            outp = seen[consumers[name]][0]
        module = model.get_submodule(name)
        w = module.weight.detach()
        if w.dim() == 4:  # Weights[C][M][R][S], Inputs[N][C][W][H], Outputs[N][M][Q][P]
            p = module.padding
            padded = torch.nn.functional.pad(inp, (p[1], p[1], p[0], p[0]))
            weights = w.permute(1, 0, 3, 2).numpy()
            inputs = padded.permute(0, 1, 3, 2).numpy()
            outputs = outp.numpy()
        else:  # linear: R = S = P = 1, Q = 1 row per sample
            weights, inputs, outputs = w.T.numpy(), inp.numpy(), outp.numpy()
        out[name] = {k: (v != 0).ravel(order="F") for k, v in
                     (("Weights", weights), ("Inputs", inputs), ("Outputs", outputs))}
    return out


def test_masks_round_trip_bit_exact(one_sample):
    ckpt, x, res = one_sample
    expected = _expected(ckpt, x)
    table = pd.read_csv(res.layers_csv)
    assert list(table["mask_file"]) == [f"masks/{r.order:03d}_{r.layer}.npz" for r in res.records]
    for r, mask_file in zip(res.records, table["mask_file"], strict=True):
        got = unpack(res.out / mask_file)
        assert np.array_equal(got["Weights"], expected[r.layer]["Weights"]), r.layer
        assert np.array_equal(got["Inputs"], expected[r.layer]["Inputs"]), r.layer
        # conv1, conv2 (pooling before the consumer) and fc3 (last): own output; fc1, fc2: after relu
        assert np.array_equal(got["Outputs"], expected[r.layer]["Outputs"]), r.layer
        # the sizes are the problem's tensor sizes (inputs include the padding border)
        width = (r.R - 1) * r.dilation_w + (r.P - 1) * r.stride_w + 1
        height = (r.S - 1) * r.dilation_h + (r.Q - 1) * r.stride_h + 1
        assert got["Inputs"].size == r.N * r.C * width * height
        assert got["Outputs"].size == r.N * r.M * r.P * r.Q


def test_mask_densities_equal_the_measured_sample(one_sample):
    _, _, res = one_sample
    compared_outputs = 0
    for r in res.records:
        got = unpack(res.out / f"masks/{r.order:03d}_{r.layer}.npz")
        assert int(got["Weights"].sum()) == r.weight_nnz
        assert int(got["Inputs"].sum()) == r.input_nnz  # the padding border adds zeros only
        if got["Outputs"].size == r.output_numel:  # what the consumer sees has the layer's output shape
            assert int(got["Outputs"].sum()) == r.output_nnz
            compared_outputs += 1
    assert compared_outputs >= 2  # fc1 -> relu -> fc2, and the last layer's own output


def test_manifest_lists_masks_and_engine_reads_them(one_sample):
    _, _, res = one_sample
    manifest = json.loads(res.manifest.read_text())
    listed = set(manifest["outputs"])
    on_disk = {p.relative_to(res.out).as_posix() for p in (res.out / "masks").iterdir()}
    assert on_disk and on_disk <= listed
    assert manifest["settings"]["masks"] is True
    r = res.records[0]
    npz = res.out / f"masks/{r.order:03d}_{r.layer}.npz"
    stored = unpack(npz)
    got = read_mask(f"{npz}#Inputs", stored["Inputs"].size)
    assert np.array_equal(got, stored["Inputs"])
    with pytest.raises(SpecError, match="elements; the tensor has"):
        read_mask(f"{npz}#Inputs", stored["Inputs"].size + 1)
    with pytest.raises(SpecError, match="no bit-packed mask 'Bias'"):
        read_mask(f"{npz}#Bias", 4)


def test_pack_is_reproducible():
    rng = np.random.default_rng(0)
    masks = {"Weights": rng.random(1001) < 0.3, "Inputs": rng.random(17) < 0.5}
    assert pack(masks) == pack(masks)  # fixed zip timestamps: same masks, same bytes


def test_pack_round_trips(tmp_path):
    rng = np.random.default_rng(1)
    masks = {"Weights": rng.random(1001) < 0.3, "Outputs": np.zeros(9, dtype=bool)}
    (tmp_path / "m.npz").write_bytes(pack(masks))
    got = unpack(tmp_path / "m.npz")
    assert set(got) == set(masks)
    for k, v in masks.items():
        assert np.array_equal(got[k], v)


def test_masks_refused_with_pad(tmp_path):
    ckpt = lenet_checkpoint(tmp_path / "g.pt")
    with pytest.raises(ConfigError, match="--masks and --pad"):
        extract(ckpt, out=tmp_path / "ex", calib_samples=4, masks=True, pad=True)


def test_cli_extract_masks(tmp_path):
    ckpt = lenet_checkpoint(tmp_path / "g.pt")
    args = ["extract", str(ckpt), "--out", str(tmp_path / "ex"), "--calib-samples", "8", "--batch-size", "8"]
    result = CliRunner().invoke(app, [*args, "--masks"])
    assert result.exit_code == 0, result.output
    table = pd.read_csv(tmp_path / "ex" / "layers.csv")
    assert all((tmp_path / "ex" / f).is_file() for f in table["mask_file"])
    assert all((tmp_path / "ex" / f).with_suffix(".yaml").is_file() for f in table["mask_file"])


def test_masks_are_byte_reproducible(one_sample, tmp_path):
    ckpt, x, res = one_sample
    again = extract(ckpt, out=tmp_path / "ex", batches=[x.clone()], seed=0, masks=True)
    first = {p.name: p.read_bytes() for p in sorted((res.out / "masks").iterdir())}
    second = {p.name: p.read_bytes() for p in sorted((again.out / "masks").iterdir())}
    assert first == second and len(first) == 2 * len(res.records)
