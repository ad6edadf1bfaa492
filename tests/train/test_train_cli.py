"""``sparse-hw train``: thin over ``train()``, lists the registries, exits 2 on bad input, writes nothing then."""

from __future__ import annotations

import torch
from typer.testing import CliRunner

from sparse_hw.cli import app
from sparse_hw.cli.train import METHOD_NAMES, MODEL_NAMES
from sparse_hw.train import load_checkpoint
from sparse_hw.train.models import list_models
from sparse_hw.train.prune import list_methods

runner = CliRunner()


def test_help_lists_models_methods_and_datasets():
    assert sorted(MODEL_NAMES) == list_models()
    assert sorted(METHOD_NAMES) == list_methods()
    result = runner.invoke(app, ["train", "--help"], env={"COLUMNS": "200"})
    assert result.exit_code == 0
    for name in (*MODEL_NAMES, *METHOD_NAMES, "synthetic-shapes", "digits", "modelnet:PATH"):
        assert name in result.output


def test_train_writes_a_checkpoint_and_prints_the_report(tmp_path):
    out = tmp_path / "ck.pt"
    result = runner.invoke(app, [
        "train", "--model", "lenet5", "--data", "digits", "--method", "structured,l1", "--sparsity", "0.75",
        "--epochs", "1", "--finetune-epochs", "1", "--seed", "3", "--out", str(out), "--quiet",
    ], env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    for text in ("per-layer sparsity", "conv2", "density", "non-zero parameters", "size CSR", "size bitmask",
                 "macro F1", "CPU latency batch 32", "global weight sparsity 0.75"):
        assert text in result.output
    state, meta = load_checkpoint(out)
    assert meta.method == ["structured", "l1"] and meta.seed == 3
    assert abs(meta.achieved_weight_sparsity - 0.75) < 0.01


def test_model_arguments_and_data_options(tmp_path):
    out = tmp_path / "pn.pt"
    result = runner.invoke(app, [
        "train", "--model", "pointnet2", "--data", "synthetic-shapes", "--data-opt", "n_points=64",
        "--data-opt", "per_class_train=2", "--data-opt", "per_class_test=1", "--model-arg", "width=0.125",
        "--model-arg", "npoint=[16, 4]", "--model-arg", "nsample=[4, 4]", "--method", "global", "--sparsity", "0.5",
        "--epochs", "1", "--finetune-epochs", "0", "--no-latency", "--quiet", "--out", str(out),
    ])
    assert result.exit_code == 0, result.output
    _, meta = load_checkpoint(out)
    assert meta.model_kwargs["npoint"] == [16, 4] and meta.dataset_options["n_points"] == 64
    assert meta.input_kind == "points" and meta.input_shape == [3, 64] and len(meta.per_layer) == 12


def test_bad_input_exits_2_and_writes_nothing(tmp_path):
    out = tmp_path / "ck.pt"
    cases = [
        ["--model", "lenet6", "--data", "digits"],
        ["--model", "lenet5", "--data", "digits", "--method", "gmp"],
        ["--model", "lenet5", "--data", "mnist"],
        ["--model", "lenet5", "--data", "digits", "--model-arg", "depth=3"],
        ["--model", "lenet5", "--data", "digits", "--epochs", "-1"],
        ["--model", "lenet5", "--data", f"cifar10:{tmp_path / 'missing'}"],
        ["--model", "lenet5", "--data", "digits", "--init", str(tmp_path / "nope.pt")],
    ]
    for args in cases:
        result = runner.invoke(app, ["train", *args, "--out", str(out), "--quiet"])
        assert result.exit_code == 2, (args, result.output)
        assert "error:" in result.output
    assert list(tmp_path.iterdir()) == []


def test_untrusted_init_checkpoint_names_the_flag(tmp_path):
    evil = tmp_path / "evil.pt"
    torch.save({"w": torch.zeros(1), "obj": _Thing()}, evil)
    result = runner.invoke(app, ["train", "--model", "lenet5", "--data", "digits", "--init", str(evil),
                                 "--out", str(tmp_path / "o.pt"), "--quiet"], env={"COLUMNS": "300"})
    assert result.exit_code == 2
    assert "--trust-checkpoint" in result.output and "_Thing" in result.output


class _Thing:
    pass
