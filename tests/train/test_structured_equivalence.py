"""Structured pruning removes exactly the channels it cuts: the smaller model computes what the unpruned
model computes with those channels zeroed (weight rows, bias, following batch norm), on every model the
method supports; PointNet++'s [xyz, features] concatenation keeps its 3-channel offset; ViT is refused."""

from __future__ import annotations

import copy
import types

import pytest
import torch
from torch import nn
from torch.nn.modules.batchnorm import _BatchNorm

from sparse_hw.errors import ConfigError
from sparse_hw.search.prune import following_norms
from sparse_hw.train.models import create_model
from sparse_hw.train.prune import structured as structured_module
from sparse_hw.train.prune.base import MaskSet, PruneContext, prunable_nnz
from sparse_hw.train.prune.channel_check import zero_channels
from sparse_hw.train.prune.tp_concat import map_untraced_concat_inputs
from sparse_hw.train.sparsity import weight_layers
from tests.train._tiny_models import TINY

SUPPORTED = ["lenet5", "resnet18", "mobilenetv2", "pointnet2"]


def _model(name):
    """A tiny model with random (distinct) batch-norm statistics and affine terms, in eval mode."""
    kwargs, shape = TINY[name]
    torch.manual_seed(0)
    model = create_model(name, **kwargs).eval()
    gen = torch.Generator().manual_seed(1)
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, _BatchNorm):
                m.running_mean.normal_(0, 0.5, generator=gen)
                m.running_var.uniform_(0.5, 2.0, generator=gen)
                m.weight.uniform_(0.5, 1.5, generator=gen)
                m.bias.normal_(0, 0.5, generator=gen)
    return model, torch.randn(*shape, generator=torch.Generator().manual_seed(2))


def _ctx(name, model, x, target=0.5):
    layers = [n for n, _ in weight_layers(model)]
    options = types.SimpleNamespace(structured_importance="l1", structured_global=False, structured_round_to=None,
                                    model=name)
    return PruneContext(model=model, prunable=layers, masks=MaskSet(), target=target,
                        dense_numel=prunable_nnz(model, layers), trainer=None, options=options, example_inputs=x,
                        seed=0, prune_epochs=0, lr=0.0, output_layer=layers[-1])


def _kept_outputs(original, pruned, x):
    """Original output channels each conv/linear kept, found by value (not from Torch-Pruning): a channel
    is identified by its following norm's running variance, or by its bias."""
    norms = following_norms(original, x)
    old, new = dict(original.named_modules()), dict(pruned.named_modules())
    kept = {}
    for name, module in weight_layers(original):
        if new[name].weight.shape[0] == module.weight.shape[0]:
            continue
        key = (lambda mods, n=name: mods[norms[n]].running_var) if name in norms else (lambda mods, n=name: mods[n].bias)
        before, after = key(old).tolist(), key(new).tolist()
        assert len(set(before)) == len(before)
        kept[name] = [before.index(v) for v in after]
    return kept, norms


def _zeroed_reference(original, kept, norms):
    """``original`` with every channel not in ``kept`` zeroed completely."""
    modules = dict(original.named_modules())
    cut = {}
    for name, channels in kept.items():
        gone = sorted(set(range(modules[name].weight.shape[0])) - set(channels))
        cut[name] = gone
        if name in norms:
            cut[norms[name]] = gone
    return zero_channels(original, cut), cut


@pytest.mark.parametrize("name", SUPPORTED)
def test_pruned_model_equals_the_zeroed_one(name):
    model, x = _model(name)
    original = copy.deepcopy(model)
    outcome = structured_module.structured(_ctx(name, model, x))
    pruned = outcome.model.eval()
    assert outcome.record["params_after"] < 0.7 * outcome.record["params_before"]
    kept, norms = _kept_outputs(original, pruned, x)
    assert kept  # channels were really removed
    reference, _ = _zeroed_reference(original, kept, norms)
    with torch.no_grad():
        expected, got = reference(x), pruned(x)
        unpruned = original(x)
    scale = float(expected.abs().max())
    assert float((expected - got).abs().max()) <= 1e-5 * max(1.0, scale)
    assert float((expected - unpruned).abs().max()) > 1e-3 * scale  # the cut mattered: the check can fail


def test_pointnet2_consumers_lose_the_columns_after_the_xyz_offset():
    model, x = _model("pointnet2")
    original = copy.deepcopy(model)
    pruned = structured_module.structured(_ctx("pointnet2", model, x)).model
    kept, _ = _kept_outputs(original, pruned, x)
    old, new = dict(original.named_modules()), dict(pruned.named_modules())
    for producer, consumer in (("sa1.mlp.6", "sa2.mlp.0"), ("sa2.mlp.6", "sa3.mlp.0")):
        columns = [0, 1, 2] + [3 + c for c in kept[producer]]  # [relative xyz, features]
        rows = kept.get(consumer, list(range(old[consumer].weight.shape[0])))
        assert torch.equal(new[consumer].weight, old[consumer].weight[rows][:, columns])


def test_without_the_offsets_the_wrong_cut_is_refused(monkeypatch):
    """The bug as found: Torch-Pruning alone cuts sa2.mlp.0's columns at the producer's indices, and the
    check after the cut turns that into a ConfigError (exit 2) naming the model."""
    monkeypatch.setattr(structured_module, "map_untraced_concat_inputs", lambda graph: [])
    model, x = _model("pointnet2")
    with pytest.raises(ConfigError, match=r"'pointnet2' does not compute what zeroing") as info:
        structured_module.structured(_ctx("pointnet2", model, x))
    assert info.value.exit_code == 2 and info.value.fix and "unstructured" in info.value.fix


def test_vit_is_refused_with_a_clear_error():
    model, x = _model("vit")
    with pytest.raises(ConfigError, match=r"structured pruning of 'vit'.*LayerNorm") as info:
        structured_module.structured(_ctx("vit", model, x))
    assert info.value.exit_code == 2 and info.value.key_path == "methods"


class _CatConst(nn.Module):
    """``cat([a(x), constant, b(x)])`` into a 1x1 conv; the constant has no autograd history."""

    def __init__(self):
        super().__init__()
        self.a, self.b = nn.Conv2d(2, 6, 1), nn.Conv2d(2, 5, 1)
        self.out = nn.Conv2d(6 + 3 + 5, 4, 1)

    def forward(self, x):
        const = torch.ones(x.shape[0], 3, *x.shape[2:])
        return self.out(torch.cat([self.a(x), const, self.b(x)], dim=1))


def test_untraced_concat_input_gets_offsets_that_follow_earlier_cuts():
    import torch_pruning as tp

    torch.manual_seed(0)
    model, x = _CatConst().eval(), torch.randn(2, 2, 3, 3)
    original = copy.deepcopy(model)
    graph = tp.DependencyGraph().build_dependency(model, example_inputs=x)
    assert len(map_untraced_concat_inputs(graph)) == 1
    graph.get_pruning_group(model.a, tp.prune_conv_out_channels, [1, 4]).prune()
    graph.get_pruning_group(model.b, tp.prune_conv_out_channels, [0, 3]).prune()  # offset 4 + 3 now, not 6 + 3
    columns = [0, 2, 3, 5] + [6, 7, 8] + [9 + c for c in (1, 2, 4)]
    assert torch.equal(model.out.weight, original.out.weight[:, columns])
    reference = zero_channels(original, {"a": [1, 4], "b": [0, 3]})
    with torch.no_grad():
        assert torch.allclose(model(x), reference(x), atol=1e-6)


def test_pruned_pointnet2_history_replays_to_the_same_model():
    """The checkpoint keeps only the history and the weights: the rebuilt model computes the same logits."""
    from sparse_hw.train.checkpoint import replay_pruning_history

    model, x = _model("pointnet2")
    ctx = _ctx("pointnet2", model, x)
    pruned = structured_module.structured(ctx).model.eval()
    rebuilt, _ = _model("pointnet2")
    replay_pruning_history(rebuilt, ctx.history, x)
    rebuilt.load_state_dict(pruned.state_dict(), strict=True)
    with torch.no_grad():
        assert torch.equal(rebuilt.eval()(x), pruned(x))


def test_cli_prunes_pointnet2_channels_and_refuses_vit(tmp_path):
    from typer.testing import CliRunner

    from sparse_hw.cli import app
    from sparse_hw.train import build_model, load_checkpoint

    runner = CliRunner()
    out = tmp_path / "pn.pt"
    result = runner.invoke(app, [
        "train", "--model", "pointnet2", "--data", "synthetic-shapes", "--data-opt", "n_points=64",
        "--data-opt", "per_class_train=2", "--data-opt", "per_class_test=1", "--model-arg", "width=0.125",
        "--model-arg", "npoint=[16, 4]", "--model-arg", "nsample=[4, 4]", "--method", "structured", "--sparsity", "0.5",
        "--epochs", "1", "--finetune-epochs", "0", "--no-latency", "--quiet", "--out", str(out),
    ])
    assert result.exit_code == 0, result.output
    state, meta = load_checkpoint(out)
    assert meta.structure == "channel" and meta.pruning_history
    assert build_model(meta, state)(torch.randn(2, 3, 64)).shape == (2, 12)
    bad = tmp_path / "vit.pt"
    result = runner.invoke(app, ["train", "--model", "vit", "--data", "digits", "--method", "structured",
                                 "--sparsity", "0.5", "--epochs", "0", "--no-latency", "--quiet", "--out", str(bad)])
    assert result.exit_code == 2 and not bad.exists()
    assert "structured pruning of 'vit'" in result.output and "unstructured method" in result.output
