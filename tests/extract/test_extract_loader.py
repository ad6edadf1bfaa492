"""Every checkpoint kind the extractor accepts, and the ones it refuses."""

from __future__ import annotations

import os
import pickle
from pathlib import Path

import pytest
import torch
from torch import nn
from torch.nn.utils import prune

from sparse_hw.errors import CheckpointError, ConfigError, DataError
from sparse_hw.extract import extract
from sparse_hw.extract.loader import fold_prune_masks, read_checkpoint, tensors_sha256
from sparse_hw.io import sha256_file
from sparse_hw.train.checkpoint import load_checkpoint
from sparse_hw.train.models import create_model
from tests.extract.helpers import LENET_DIGITS, lenet_checkpoint, magnitude_prune, model_checkpoint


def _channel_pruned_lenet(ratio: float = 0.5) -> tuple[nn.Module, list]:
    """LeNet-5 (digits) with half of its conv/hidden channels removed by Torch-Pruning, and the history."""
    import torch_pruning as tp

    torch.manual_seed(0)
    model = create_model("lenet5", **LENET_DIGITS).eval()
    pruner = tp.pruner.MagnitudePruner(
        model,
        torch.randn(1, 1, 8, 8),
        importance=tp.importance.MagnitudeImportance(p=1),
        pruning_ratio=ratio,
        ignored_layers=[model.fc3],
    )
    pruner.step()
    history = [[str(n), bool(o), [int(i) for i in idx]] for n, o, idx in pruner.pruning_history()]
    return model, history


def test_our_checkpoint_records_the_checkpoint_facts(tmp_path: Path) -> None:
    ckpt = lenet_checkpoint(tmp_path / "l.pt", sparsity=0.7, method=["structured", "l1"])
    result = extract(ckpt, out=tmp_path / "ex", calib_samples=32)
    rec = result.records[0]
    assert (rec.model, rec.method, rec.target_sparsity, rec.accuracy) == ("lenet5", "structured+l1", 0.7, 0.9)
    state, _ = load_checkpoint(ckpt)
    assert rec.checkpoint_id == tensors_sha256(state)[:12] == result.checkpoint_id
    assert read_checkpoint(ckpt).sha256 == sha256_file(ckpt)  # the file's own hash stays for provenance
    assert rec.calib_samples == 32  # from the digits test split, the dataset the checkpoint names


def test_checkpoint_id_names_the_weights_not_the_metadata(tmp_path: Path) -> None:
    """Retraining with the same seed writes other timings into the metadata, never another id."""
    a = read_checkpoint(lenet_checkpoint(tmp_path / "a.pt", accuracy_after=0.9))
    b = read_checkpoint(lenet_checkpoint(tmp_path / "b.pt", accuracy_after=0.8, created="2026-02-02T00:00:00+00:00"))
    c = read_checkpoint(lenet_checkpoint(tmp_path / "c.pt", sparsity=0.5))
    assert a.sha256 != b.sha256 and a.checkpoint_id == b.checkpoint_id
    assert c.checkpoint_id != a.checkpoint_id
    # A scalar tensor and a bool mask hash too; one changed value changes the id.
    state = {"w": torch.ones(3), "n": torch.tensor(5), "mask": torch.tensor([True, False])}
    changed = dict(state, w=torch.tensor([1.0, 1.0, 1.5]))
    assert tensors_sha256(state) == tensors_sha256(dict(reversed(list(state.items()))))
    assert tensors_sha256(state) != tensors_sha256(changed)


def test_torch_prune_state_dict_is_folded(tmp_path: Path) -> None:
    torch.manual_seed(0)
    model = create_model("lenet5", **LENET_DIGITS)
    prune.l1_unstructured(model.conv2, "weight", amount=0.5)
    prune.random_unstructured(model.fc1, "weight", amount=0.75)
    sd = model.state_dict()
    assert "conv2.weight_orig" in sd and "conv2.weight_mask" in sd
    torch.save(sd, tmp_path / "pruned.pt")
    expected = {n: float((sd[f"{n}.weight_mask"] != 0).float().mean()) for n in ("conv2", "fc1")}

    result = extract(
        tmp_path / "pruned.pt", model="lenet5", data="digits", out=tmp_path / "ex", calib_samples=16
    )
    recs = {r.layer: r for r in result.records}
    assert recs["conv2"].weight_density == pytest.approx(expected["conv2"], abs=0) == 0.5
    assert recs["fc1"].weight_density == expected["fc1"] == 0.25
    assert recs["conv1"].weight_density == 1.0 and recs["conv1"].pattern == "dense"
    assert recs["conv2"].pattern == "unstructured" and recs["conv2"].density_model == "hypergeometric"
    assert any("weight_orig" in n for n in result.notes)
    folded, names = fold_prune_masks(sd)
    assert set(names) == {"conv2.weight", "fc1.weight"}
    assert torch.equal(folded["conv2.weight"], sd["conv2.weight_orig"] * sd["conv2.weight_mask"])


def test_plain_state_dict_needs_model_and_sizes_the_head(tmp_path: Path) -> None:
    torch.manual_seed(0)
    model = magnitude_prune(create_model("lenet5", **LENET_DIGITS), 0.5)
    torch.save(
        {"state_dict": {f"module.{k}": v for k, v in model.state_dict().items()}, "epoch": 3},
        tmp_path / "plain.pt",
    )
    with pytest.raises(CheckpointError, match="pass --model NAME"):
        extract(tmp_path / "plain.pt", data="digits", out=tmp_path / "ex")
    assert not (tmp_path / "ex").exists()
    result = extract(
        tmp_path / "plain.pt", model="lenet5", data="digits", out=tmp_path / "ex", calib_samples=16
    )
    assert [r.layer for r in result.records] == ["conv1", "conv2", "fc1", "fc2", "fc3"]
    assert result.records[-1].M == 10 and result.records[0].C == 1
    assert result.records[1].weight_density == pytest.approx(0.5, abs=1e-3)
    assert all(r.method == "unknown" and r.accuracy is None for r in result.records)
    assert any("module." in n for n in result.notes)


def test_plain_state_dict_of_another_architecture_is_refused(tmp_path: Path) -> None:
    torch.save(create_model("lenet5", **LENET_DIGITS).state_dict(), tmp_path / "plain.pt")
    with pytest.raises(CheckpointError, match="does not fit model 'mobilenetv2'"):
        extract(tmp_path / "plain.pt", model="mobilenetv2", data="digits", out=tmp_path / "ex")


def test_our_structured_checkpoint_is_rebuilt_smaller(tmp_path: Path) -> None:
    model, history = _channel_pruned_lenet()
    ckpt = model_checkpoint(
        tmp_path / "s.pt",
        model,
        "lenet5",
        LENET_DIGITS,
        method=["structured"],
        structure="channel",
        pruning_history=history,
        dataset="digits",
        input_shape=[1, 8, 8],
    )
    result = extract(ckpt, out=tmp_path / "ex", calib_samples=16)
    recs = {r.layer: r for r in result.records}
    assert (recs["conv1"].M, recs["conv2"].C, recs["conv2"].M) == (
        model.conv1.out_channels,
        model.conv1.out_channels,
        model.conv2.out_channels,
    )
    assert recs["conv1"].M < 6 and recs["fc1"].M < 120 and recs["fc3"].M == 10
    for name in ("conv1", "conv2", "fc1", "fc2"):
        assert recs[name].pattern == "channel", name
        assert recs[name].weight_density == 1.0 and recs[name].density_model == "fixed_structured"
    assert recs["fc3"].pattern == "channel"  # its input channels were removed (C 84 -> 42)
    assert "[10, 84] -> [10, 42]" in recs["fc3"].pattern_detail


def test_foreign_shape_changed_state_dict_is_rebuilt_with_its_shapes(tmp_path: Path) -> None:
    model, _ = _channel_pruned_lenet()
    magnitude_prune(model, 0.3)
    torch.save(model.state_dict(), tmp_path / "foreign.pt")
    result = extract(
        tmp_path / "foreign.pt", model="lenet5", data="digits", out=tmp_path / "ex", calib_samples=16
    )
    recs = {r.layer: r for r in result.records}
    assert recs["conv2"].M == model.conv2.out_channels < 16
    assert recs["conv2"].pattern == "channel+unstructured"
    assert recs["conv2"].density_model == "hypergeometric"
    assert any("rebuilt" in n for n in result.notes)


def test_untrusted_pickle_is_refused_and_trusted_module_loads(tmp_path: Path) -> None:
    model = nn.Sequential(nn.Conv2d(1, 4, 3), nn.ReLU(), nn.Flatten(), nn.Linear(4 * 6 * 6, 3))
    torch.save(model, tmp_path / "module.pt")
    with pytest.raises(CheckpointError, match=r"blocked globals.*--trust-checkpoint"):
        read_checkpoint(tmp_path / "module.pt")
    batches = [torch.randn(2, 1, 8, 8)]
    result = extract(tmp_path / "module.pt", trust=True, batches=batches, out=tmp_path / "ex")
    assert [r.layer for r in result.records] == ["0", "3"]
    assert result.model == "Sequential"


class _Evil:
    def __reduce__(self):
        return (os.system, ("echo pwned > evil.txt",))


@pytest.mark.filterwarnings("ignore:Detected pickle protocol")
def test_malicious_pickle_never_runs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    with open(tmp_path / "evil.pt", "wb") as fh:
        pickle.dump({"state_dict": _Evil()}, fh)
    with pytest.raises(CheckpointError, match="trust-checkpoint"):
        extract(tmp_path / "evil.pt", model="lenet5", data="digits", out=tmp_path / "ex")
    assert not (tmp_path / "evil.txt").exists()
    assert not (tmp_path / "ex").exists()


def test_corrupt_and_missing_files(tmp_path: Path) -> None:
    (tmp_path / "corrupt.pt").write_bytes(b"PK\x03\x04 this is not a zip")
    with pytest.raises(CheckpointError, match="corrupt") as info:
        extract(tmp_path / "corrupt.pt", model="lenet5", data="digits", out=tmp_path / "ex")
    assert "corrupt.pt" in info.value.render() and "Fix:" in info.value.render()
    with pytest.raises(CheckpointError, match="does not exist"):
        extract(tmp_path / "nope.pt", out=tmp_path / "ex")
    with pytest.raises(CheckpointError, match="folder"):  # a folder given as the checkpoint
        extract(tmp_path, out=tmp_path.with_name(tmp_path.name + "-ex"))
    with pytest.raises(ConfigError, match="inside the input folder"):  # and an --out inside it, refused first
        extract(tmp_path, out=tmp_path / "ex")


def test_checkpoint_without_dataset_needs_data(tmp_path: Path) -> None:
    ckpt = lenet_checkpoint(tmp_path / "l.pt", dataset="")
    with pytest.raises(DataError, match="--data"):
        extract(ckpt, out=tmp_path / "ex")
    with pytest.raises(DataError, match="points"):
        extract(ckpt, data="synthetic-shapes", out=tmp_path / "ex")
