"""N:M pruning keeps exactly N of every M weights along the input channels, and extract reports it."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from sparse_hw.errors import ConfigError
from sparse_hw.train import TrainConfig, train
from sparse_hw.train.prune.nm import LAYOUT_C, LAYOUT_FLAT, nm_layout, nm_mask, parse_nm

VIT_FAST = {"model": "vit", "data": "digits", "epochs": 1, "prune_epochs": 0, "finetune_epochs": 1,
            "measure_latency": False}


def _groups_along_c(weight: torch.Tensor, m: int) -> torch.Tensor:
    """Nonzeros of every group of m input channels at each (output channel, kernel position)."""
    k, c = weight.shape[:2]
    rest = weight.shape[2:]
    return (weight != 0).reshape(k, c // m, m, *rest).sum(dim=2)


@pytest.mark.parametrize("n, m", [(2, 4), (4, 8), (1, 4)])
@pytest.mark.parametrize("shape", [(8, 16, 3, 3), (12, 32), (4, 8, 5)])
def test_mask_keeps_exactly_n_of_every_m_along_c(n, m, shape):
    torch.manual_seed(0)
    w = torch.randn(shape)
    mask = nm_mask(w, n, m)
    assert nm_layout(shape, m) == LAYOUT_C
    counts = _groups_along_c(w * mask, m)
    assert bool((counts == n).all())
    # the kept ones are the largest of their group
    groups = w.abs().reshape(shape[0], shape[1] // m, m, *shape[2:])
    kept = (w * mask).abs().reshape(groups.shape)
    smallest_kept = torch.where(kept > 0, kept, torch.inf).amin(dim=2)
    largest_dropped = torch.where(kept > 0, torch.zeros_like(groups), groups).amax(dim=2)
    assert bool((smallest_kept >= largest_dropped).all())


def test_first_conv_falls_back_to_the_flattened_axis_and_odd_layers_stay_dense():
    w = torch.randn(6, 1, 2, 2)  # C = 1: groups of 4 along C*R*S
    assert nm_layout(tuple(w.shape), 4) == LAYOUT_FLAT
    counts = (w * nm_mask(w, 2, 4) != 0).reshape(6, -1, 4).sum(dim=2)
    assert bool((counts == 2).all())
    assert nm_mask(torch.randn(6, 3, 3, 3), 2, 4) is None  # 3 and 27 are no multiples of 4


def test_parse_and_config_validation():
    assert parse_nm("2:4") == (2, 4) and parse_nm("1:4") == (1, 4)
    for bad in ("4:2", "2-4", "0:4", "a:b"):
        with pytest.raises(ConfigError) as exc:
            TrainConfig(model="vit", data="digits", methods=["nm"], nm=bad)
        assert exc.value.problems[0].key_path == "nm"
    assert TrainConfig(model="vit", methods=["nm"], nm="4:8").method_targets() == [("nm", 0.5)]
    assert TrainConfig(model="vit", methods=["nm"], nm="1:4").method_targets() == [("nm", 0.75)]
    with pytest.raises(ConfigError):  # the other methods still need a target
        TrainConfig(model="vit", methods=["nm", "l1"])


@pytest.fixture(scope="module")
def vit_24(tmp_path_factory):
    out = tmp_path_factory.mktemp("nm") / "vit24.pt"
    result = train(TrainConfig(**VIT_FAST, methods=["nm"], nm="2:4", out=out))
    return result, out


def test_trained_vit_is_exactly_2_4_in_every_group(vit_24):
    result, _ = vit_24
    model = result.model
    linears = [(n, mod) for n, mod in model.named_modules() if isinstance(mod, nn.Linear)]
    assert len(linears) == 9
    for name, mod in linears:
        counts = _groups_along_c(mod.weight.detach(), 4)
        assert bool((counts == 2).all()), name
    patch = model.patch.weight.detach()  # [32, 1, 2, 2]: groups along the flattened C*R*S
    assert bool(((patch != 0).reshape(32, 1, 4).sum(-1) == 2).all())
    assert result.meta.achieved_weight_sparsity == pytest.approx(0.5)
    assert result.meta.target_sparsity == pytest.approx(0.5)
    assert result.meta.schedule["methods"][0]["n"] == 2


def test_extract_reports_fixed_structured(vit_24, tmp_path):
    from sparse_hw.extract import extract

    _, ckpt = vit_24
    res = extract(ckpt, out=tmp_path / "ex", calib_samples=16, batch_size=16)
    weighted = [r for r in res.records if r.module_type in ("Linear", "Conv2d")]
    assert len(weighted) == 10
    for r in weighted:
        assert r.pattern == "n:m", (r.layer, r.pattern_detail)
        assert r.pattern_detail.startswith("2:4")
        assert r.density_model == "fixed_structured"
        assert r.weight_density == pytest.approx(0.5)
    assert "fixed_structured" in (tmp_path / "ex" / "layers.csv").read_text()


def test_cli_nm_4_8(tmp_path):
    from typer.testing import CliRunner

    from sparse_hw.cli import app
    from sparse_hw.train import build_model, load_checkpoint

    out = tmp_path / "vit48.pt"
    result = CliRunner().invoke(app, ["train", "--model", "vit", "--data", "digits", "--epochs", "0", "--method", "nm",
                                      "--nm", "4:8", "--finetune-epochs", "0", "--no-latency", "--quiet",
                                      "--out", str(out)])
    assert result.exit_code == 0, result.output
    state, meta = load_checkpoint(out)
    assert meta.method == ["nm"] and meta.target_sparsity == pytest.approx(0.5)
    fc1 = build_model(meta, state).blocks[0].fc1.weight.detach()
    assert bool((_groups_along_c(fc1, 8) == 4).all())
    bad = CliRunner().invoke(app, ["train", "--model", "vit", "--data", "digits", "--method", "nm", "--nm", "5:4",
                                   "--out", str(tmp_path / "x.pt")])
    assert bad.exit_code == 2 and "N:M" in bad.output
