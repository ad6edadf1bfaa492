"""Every pruning method reaches its target on LeNet-5/digits; methods compose; runs are deterministic."""

from __future__ import annotations

import pytest
import torch

from sparse_hw.errors import ConfigError
from sparse_hw.train import TrainConfig, build_model, load_checkpoint, train
from sparse_hw.train.prune import list_methods
from sparse_hw.train.prune.schedules import cubic_sparsity, is_update_step, linear_sparsity

FAST = {"model": "lenet5", "data": "digits", "epochs": 2, "prune_epochs": 1, "finetune_epochs": 1, "lr": 1e-2,
        "measure_latency": False}


@pytest.fixture(scope="module")
def dense_ckpt(tmp_path_factory):
    """One dense LeNet-5 on digits that the pruning tests start from (trained once per module)."""
    out = tmp_path_factory.mktemp("dense") / "dense.pt"
    result = train(TrainConfig(**{**FAST, "epochs": 6}, out=out))
    assert result.meta.accuracy_after > 0.85  # a real model, so that pruning has something to lose
    return out


def _prune(dense_ckpt, tmp_path, methods, sparsity, **extra):
    config = TrainConfig(**{**FAST, "epochs": 0, **extra}, methods=methods, sparsity=sparsity,
                         init_checkpoint=dense_ckpt, out=tmp_path / "ck.pt")
    return train(config)


@pytest.mark.parametrize("method, target", [("l1", 0.8), ("global", 0.9), ("gmp", 0.9), ("admm", 0.85),
                                            ("structured", 0.5)])
def test_each_method_reaches_its_target(dense_ckpt, tmp_path, method, target):
    result = _prune(dense_ckpt, tmp_path, [method], target, prune_epochs=3 if method == "gmp" else 1)
    meta = result.meta
    assert meta.achieved_weight_sparsity == pytest.approx(target, abs=0.01)
    assert meta.method == [method] and meta.target_sparsity == target
    assert meta.accuracy_before > 0.85
    assert meta.accuracy_after > 0.5  # pruned and fine-tuned, far above chance (0.1)
    state, loaded = load_checkpoint(tmp_path / "ck.pt")
    prunable = [r for r in loaded.per_layer if r.prunable]
    assert 1 - sum(r.nnz for r in prunable) / loaded.dense_prunable_params == pytest.approx(target, abs=0.01)
    model = build_model(loaded, state)
    assert model(torch.randn(4, 1, 8, 8)).shape == (4, 10)
    if method == "structured":
        assert meta.structure == "channel" and meta.pruning_history
        assert result.after.size.params < 0.6 * result.before.size.params
        assert all(r.density == 1.0 for r in meta.per_layer)
        assert sum(p.numel() for p in model.parameters()) == result.after.size.params
    else:
        assert meta.structure == "unstructured" and meta.pruning_history is None
        assert result.after.size.params == result.before.size.params
        assert result.after.size.nonzero_params < result.before.size.nonzero_params


def test_per_layer_methods_prune_every_layer_by_the_same_ratio(dense_ckpt, tmp_path):
    meta = _prune(dense_ckpt, tmp_path, ["l1"], 0.8, finetune_epochs=0).meta
    densities = [r.density for r in meta.per_layer]
    assert max(densities) - min(densities) < 0.01
    admm = _prune(dense_ckpt, tmp_path, ["admm"], 0.8, finetune_epochs=0).meta
    ratios = admm.schedule["methods"][0]["layer_removal_ratio"]
    assert max(ratios.values()) - min(ratios.values()) > 0.1  # ADMM picks per-layer ratios itself


def test_gmp_follows_the_cubic_schedule(dense_ckpt, tmp_path):
    meta = _prune(dense_ckpt, tmp_path, ["gmp"], 0.9, prune_epochs=2, gmp_frequency=5).meta
    record = meta.schedule["methods"][0]
    assert record["final_sparsity"] == 0.9 and record["frequency"] == 5
    assert record["updates"] >= record["end_step"] // 5


def test_structured_then_l1_composes(dense_ckpt, tmp_path):
    result = _prune(dense_ckpt, tmp_path, ["structured,l1"], 0.8)
    meta = result.meta
    assert meta.method == ["structured", "l1"]
    assert meta.achieved_weight_sparsity == pytest.approx(0.8, abs=0.01)
    first, second = meta.schedule["methods"]
    assert first["method"] == "structured" and 0.4 < first["achieved"] < 0.6  # geometric split of 0.8
    assert meta.structure == "unstructured" and meta.pruning_history
    assert result.after.size.params < result.before.size.params
    assert any(r.dense_shape for r in meta.per_layer)
    state, loaded = load_checkpoint(tmp_path / "ck.pt")
    model = build_model(loaded, state)
    nnz = sum(int(torch.count_nonzero(m.weight)) for n, m in model.named_modules() if n in loaded.prunable_layers)
    assert nnz == sum(r.nnz for r in meta.per_layer if r.prunable)


def test_explicit_per_method_targets(dense_ckpt, tmp_path):
    meta = _prune(dense_ckpt, tmp_path, ["structured", "global"], [0.3, 0.7], finetune_epochs=0).meta
    assert [m["target"] for m in meta.schedule["methods"]] == [0.3, 0.7]
    assert meta.schedule["methods"][0]["achieved"] == pytest.approx(0.3, abs=0.01)
    assert meta.achieved_weight_sparsity == pytest.approx(0.7, abs=0.01)


def test_excluded_layers_stay_dense(dense_ckpt, tmp_path):
    meta = _prune(dense_ckpt, tmp_path, ["global"], 0.8, exclude_first=True, exclude_last=True,
                  finetune_epochs=0).meta
    dense = {r.name: r for r in meta.per_layer}
    assert dense["conv1"].density == 1.0 and dense["fc3"].density == 1.0
    assert not dense["conv1"].prunable and meta.prunable_layers == ["conv2", "fc1", "fc2"]
    assert meta.achieved_weight_sparsity == pytest.approx(0.8, abs=0.01)


def _tensors(path):
    return load_checkpoint(path)[0]


def test_same_seed_gives_identical_tensors_and_another_seed_does_not(tmp_path):
    base = {**FAST, "methods": ["gmp"], "sparsity": 0.7}
    a = train(TrainConfig(**base, seed=1, out=tmp_path / "a.pt"))
    b = train(TrainConfig(**base, seed=1, out=tmp_path / "b.pt"))
    c = train(TrainConfig(**base, seed=2, out=tmp_path / "c.pt"))
    ta, tb, tc = _tensors(a.checkpoint), _tensors(b.checkpoint), _tensors(c.checkpoint)
    assert ta.keys() == tb.keys() and all(torch.equal(ta[k], tb[k]) for k in ta)
    assert any(not torch.equal(ta[k], tc[k]) for k in ta)
    assert a.meta.accuracy_after == b.meta.accuracy_after


def test_structured_runs_are_deterministic_too(dense_ckpt, tmp_path):
    a = _prune(dense_ckpt, tmp_path / "a", ["structured"], 0.5, finetune_epochs=1)
    b = _prune(dense_ckpt, tmp_path / "b", ["structured"], 0.5, finetune_epochs=1)
    assert a.meta.pruning_history == b.meta.pruning_history
    ta, tb = _tensors(a.checkpoint), _tensors(b.checkpoint)
    assert all(torch.equal(ta[k], tb[k]) for k in ta)


def test_config_errors():
    with pytest.raises(ConfigError, match="need a target sparsity"):
        TrainConfig(model="lenet5", methods=["gmp"])
    with pytest.raises(ConfigError, match="did you mean 'gmp'"):
        TrainConfig(model="lenet5", methods=["gmpp"], sparsity=0.5)
    with pytest.raises(ConfigError, match=r"\[0, 1\)"):
        TrainConfig(model="lenet5", methods=["l1"], sparsity=1.0)
    with pytest.raises(ConfigError, match="must not decrease"):
        TrainConfig(model="lenet5", methods=["structured", "l1"], sparsity=[0.6, 0.3])
    assert TrainConfig(model="lenet5", methods="structured, l1", sparsity=0.75).method_targets() == [
        ("structured", pytest.approx(0.5)), ("l1", 0.75)]


def test_registry_has_every_method():
    assert set(list_methods()) == {"none", "gmp", "l1", "global", "structured", "admm", "nm"}


def test_cubic_schedule_is_a_pure_function_of_the_step():
    kw = {"initial": 0.0, "final": 0.9, "start": 10, "end": 110, "frequency": 10}
    assert cubic_sparsity(0, **kw) == 0.0
    assert cubic_sparsity(10, **kw) == 0.0
    assert cubic_sparsity(60, **kw) == pytest.approx(0.9 * (1 - 0.5**3))
    assert cubic_sparsity(65, **kw) == cubic_sparsity(60, **kw)  # only changes on update steps
    assert cubic_sparsity(110, **kw) == cubic_sparsity(10_000, **kw) == pytest.approx(0.9)
    values = [cubic_sparsity(t, **kw) for t in range(120)]
    assert values == sorted(values)
    assert linear_sparsity(60, **kw) == pytest.approx(0.45)
    assert is_update_step(20, start=10, end=110, frequency=10) and not is_update_step(25, start=10, end=110,
                                                                                        frequency=10)
    with pytest.raises(ValueError):
        cubic_sparsity(1, initial=0, final=0.5, start=10, end=5, frequency=1)


def test_layer_allocations_sum_exactly_and_respect_caps():
    from sparse_hw.train.prune.base import erk_layer_counts, global_layer_counts, layer_keep_counts

    gen = torch.Generator().manual_seed(0)
    weights = {"small": torch.randn(8, 3, generator=gen), "big": torch.randn(256, 128, generator=gen),
               "mid": torch.randn(64, 32, generator=gen) * 10}
    caps = {n: w.numel() for n, w in weights.items()}
    keep = int(0.1 * sum(caps.values()))
    erk = erk_layer_counts(weights, caps, keep)
    assert sum(erk.values()) == keep
    density = {n: erk[n] / caps[n] for n in erk}
    assert density["small"] == 1.0 and density["mid"] > density["big"]  # small layers stay denser
    uniform = layer_keep_counts(caps, keep)
    total = sum(caps.values())
    assert sum(uniform.values()) == keep
    assert all(abs(uniform[n] - caps[n] * keep / total) < 1 for n in caps)  # the same ratio, up to rounding
    glob = global_layer_counts(weights, keep)
    assert sum(glob.values()) == keep and glob["mid"] > uniform["mid"]  # larger magnitudes survive
    tight = erk_layer_counts(weights, {**caps, "small": 5}, keep)
    assert tight["small"] == 5 and sum(tight.values()) == keep


@pytest.mark.parametrize("distribution", ["erk", "global", "uniform"])
def test_gmp_distributions_reach_the_target(dense_ckpt, tmp_path, distribution):
    meta = _prune(dense_ckpt, tmp_path, ["gmp"], 0.9, gmp_distribution=distribution, finetune_epochs=0).meta
    assert meta.achieved_weight_sparsity == pytest.approx(0.9, abs=0.01)
    densities = meta.schedule["methods"][0]["layer_density"]
    spread = max(densities.values()) - min(densities.values())
    assert spread < 0.01 if distribution == "uniform" else spread > 0.05


@pytest.mark.parametrize("model, kwargs", [("resnet18", {"width": 0.125}), ("mobilenetv2", {"width_mult": 0.25})])
def test_structured_pruning_of_residual_and_depthwise_models_rebuilds(tmp_path, model, kwargs):
    config = TrainConfig(model=model, model_kwargs=kwargs, data="digits", methods=["structured", "l1"],
                         sparsity=0.6, epochs=1, finetune_epochs=1, lr=1e-2, batch_size=64, measure_latency=False,
                         out=tmp_path / "ck.pt")
    result = train(config)
    assert result.meta.achieved_weight_sparsity == pytest.approx(0.6, abs=0.01)
    assert result.after.size.params < result.before.size.params
    state, meta = load_checkpoint(tmp_path / "ck.pt")
    rebuilt = build_model(meta, state)
    x = torch.randn(3, 1, 8, 8)
    result.model.eval()
    assert torch.allclose(rebuilt(x), result.model(x), atol=1e-5)


def test_method_names_match_the_shared_vocabulary():
    from sparse_hw.names import PruneMethod

    assert {m.value for m in PruneMethod} == set(list_methods())


def test_one_shot_cuts_fine_tune_at_the_training_rate():
    """gmp/admm adapt while pruning and fine-tune at lr/10; a one-shot cut among the methods gets lr."""
    base = {"model": "lenet5", "data": "digits", "sparsity": 0.8, "lr": 0.004}
    assert TrainConfig(**base, methods=["gmp"]).resolved_finetune_lr() == pytest.approx(0.0004)
    assert TrainConfig(**base, methods=["admm"]).resolved_finetune_lr() == pytest.approx(0.0004)
    for methods in (["l1"], ["global"], ["structured"], ["structured", "gmp"]):
        assert TrainConfig(**base, methods=methods).resolved_finetune_lr() == pytest.approx(0.004)
    assert TrainConfig(**base, methods=["l1"], finetune_lr=0.001).resolved_finetune_lr() == 0.001
