"""Checkpoints load with weights_only=True, refuse pickled objects, fold masks and rebuild pruned models."""

from __future__ import annotations

import pickle

import pytest
import torch
from torch.nn.utils import prune as torch_prune

from sparse_hw.errors import CheckpointError
from sparse_hw.train.checkpoint import (
    FORMAT,
    CheckpointMeta,
    build_model,
    folded_state_dict,
    load_checkpoint,
    save_checkpoint,
)
from sparse_hw.train.models import create_model


def _meta(**kw) -> CheckpointMeta:
    return CheckpointMeta(model_name="lenet5", model_kwargs={"image_size": 8}, input_shape=[1, 8, 8], **kw)


def test_round_trip_is_weights_only(tmp_path):
    torch.manual_seed(0)
    model = create_model("lenet5", image_size=8)
    path = save_checkpoint(tmp_path / "ck.pt", model, _meta(seed=7))
    raw = torch.load(path, weights_only=True)
    assert raw["format"] == FORMAT and isinstance(raw["meta"], dict)
    state, meta = load_checkpoint(path)
    assert meta is not None and meta.seed == 7 and meta.model_name == "lenet5"
    assert all(torch.equal(state[k], v) for k, v in model.state_dict().items())
    rebuilt = build_model(meta, state)
    x = torch.randn(3, 1, 8, 8)
    assert torch.equal(rebuilt(x), model.eval()(x))
    assert not list(tmp_path.glob("*.tmp"))


def test_masks_are_folded_and_zeros_stay_exact(tmp_path):
    model = create_model("lenet5", image_size=8)
    torch_prune.l1_unstructured(model.fc1, "weight", amount=0.5)
    state = folded_state_dict(model)
    assert "fc1.weight" in state and not any(k.endswith(("_orig", "_mask")) for k in state)
    assert int((state["fc1.weight"] == 0).sum()) == model.fc1.weight.numel() // 2
    path = save_checkpoint(tmp_path / "ck.pt", model, _meta())
    loaded, _ = load_checkpoint(path)
    assert torch.equal(loaded["fc1.weight"], state["fc1.weight"])


class Payload:
    """An arbitrary class: unpickling it needs a global outside the allow-list."""

    def __init__(self):
        self.value = 1


def test_pickled_objects_are_refused_naming_the_global_and_the_flag(tmp_path):
    path = tmp_path / "evil.pt"
    torch.save({"state_dict": {"w": torch.zeros(1)}, "extra": Payload()}, path)
    with pytest.raises(CheckpointError) as err:
        load_checkpoint(path)
    text = err.value.render()
    assert "--trust-checkpoint" in text and "Payload" in text
    state, meta = load_checkpoint(path, trust=True)
    assert meta is None and torch.equal(state["w"], torch.zeros(1))


@pytest.mark.filterwarnings("ignore:Detected pickle protocol")
def test_corrupt_and_missing_files(tmp_path):
    bad = tmp_path / "bad.pt"
    bad.write_bytes(b"not a checkpoint at all")
    with pytest.raises(CheckpointError, match="corrupt"):
        load_checkpoint(bad)
    text = tmp_path / "notes.pt"  # unpickles far enough to fail inside the weights-only unpickler
    text.write_bytes(b"garbage\n")
    with pytest.raises(CheckpointError, match=r"corrupt or not a torch file: Unsupported operand"):
        load_checkpoint(text)
    with pytest.raises(CheckpointError, match="does not exist"):
        load_checkpoint(tmp_path / "none.pt")
    legacy = tmp_path / "legacy.pt"
    legacy.write_bytes(pickle.dumps({"w": 1}))
    with pytest.raises(CheckpointError):
        load_checkpoint(legacy)


def test_plain_state_dict_has_no_meta(tmp_path):
    model = create_model("lenet5", image_size=8)
    torch.save(model.state_dict(), tmp_path / "plain.pt")
    state, meta = load_checkpoint(tmp_path / "plain.pt")
    assert meta is None and set(state) == set(model.state_dict())
    torch.save({"model": model.state_dict(), "epoch": 3}, tmp_path / "wrapped.pt")
    state, meta = load_checkpoint(tmp_path / "wrapped.pt")
    assert meta is None and set(state) == set(model.state_dict())


def test_invalid_meta_is_a_checkpoint_error(tmp_path):
    model = create_model("lenet5", image_size=8)
    payload = {"format": FORMAT, "meta": {"model_name": "lenet5", "bogus": 1}, "state_dict": model.state_dict()}
    torch.save(payload, tmp_path / "m.pt")
    with pytest.raises(CheckpointError, match="invalid metadata"):
        load_checkpoint(tmp_path / "m.pt")


def test_weights_that_do_not_fit_are_reported(tmp_path):
    model = create_model("lenet5", image_size=28)
    path = save_checkpoint(tmp_path / "ck.pt", model, _meta())  # meta says image_size 8
    state, meta = load_checkpoint(path)
    with pytest.raises(CheckpointError, match="do not fit"):
        build_model(meta, state)


def test_structured_history_rebuilds_the_smaller_model(tmp_path):
    import torch_pruning as tp

    model = create_model("lenet5", image_size=8).eval()
    x = torch.randn(2, 1, 8, 8)
    pruner = tp.pruner.MagnitudePruner(model, x, importance=tp.importance.MagnitudeImportance(p=1),
                                       pruning_ratio=0.5, ignored_layers=[model.fc3])
    pruner.step()
    history = [[n, bool(o), [int(i) for i in idx]] for n, o, idx in pruner.pruning_history()]
    path = save_checkpoint(tmp_path / "ck.pt", model, _meta(pruning_history=history, structure="channel"))
    state, meta = load_checkpoint(path)
    rebuilt = build_model(meta, state)
    assert rebuilt.conv1.out_channels == model.conv1.out_channels < 6
    assert sum(p.numel() for p in rebuilt.parameters()) == sum(p.numel() for p in model.parameters())
    assert torch.allclose(rebuilt(x), model(x))
