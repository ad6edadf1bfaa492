"""The extract stage end to end: files, atomic writes, determinism, the CLI shell, the next stage's reader."""

from __future__ import annotations

import json
from pathlib import Path
from unittest import mock

import pandas as pd
import pytest
import torch
from typer.testing import CliRunner

from sparse_hw import pipeline
from sparse_hw.cli import app
from sparse_hw.extract import ExtractResult, extract, load_layer_records, read_layers_file
from sparse_hw.extract.record import ALL_COLUMNS
from sparse_hw.train.models import create_model
from tests.extract.helpers import lenet_checkpoint, model_checkpoint, seeded_batches

runner = CliRunner()


@pytest.fixture(scope="module")
def lenet_run(tmp_path_factory: pytest.TempPathFactory) -> ExtractResult:
    tmp = tmp_path_factory.mktemp("lenet")
    return extract(lenet_checkpoint(tmp / "l.pt"), out=tmp / "ex", calib_samples=48, batch_size=20, seed=1)


def test_output_files(lenet_run: ExtractResult) -> None:
    out = lenet_run.out
    assert sorted(p.name for p in out.iterdir()) == [
        "layers.csv",
        "layers.json",
        "manifest.json",
        "problems",
        "weight_hist.csv",
    ]
    assert [p.name for p in sorted((out / "problems").iterdir())] == [
        "000_conv1.yaml",
        "001_conv2.yaml",
        "002_fc1.yaml",
        "003_fc2.yaml",
        "004_fc3.yaml",
    ]
    table = pd.read_csv(out / "layers.csv", dtype={"checkpoint": str})
    assert tuple(table.columns) == ALL_COLUMNS
    assert list(table["layer"]) == ["conv1", "conv2", "fc1", "fc2", "fc3"]
    assert (table["calib_samples"] == 48).all() and (table["calib_batches"] == 3).all()
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["stage"] == "extract" and manifest["status"] == "ok"
    assert manifest["seeds"] == {"calibration": 1, "dataset": 0, "training": 0}
    assert any(k.endswith("l.pt") for k in manifest["inputs"])
    assert manifest["settings"]["data"] == "digits" and manifest["settings"]["batch_size"] == 20
    assert "problems/004_fc3.yaml" in manifest["outputs"]


def test_layers_json_carries_the_checkpoint_facts(lenet_run: ExtractResult) -> None:
    layers = read_layers_file(lenet_run.out)
    assert (layers.model, layers.method, layers.target_sparsity, layers.accuracy) == (
        "lenet5",
        "l1",
        0.7,
        0.9,
    )
    assert layers.checkpoint == lenet_run.checkpoint_id and len(layers.checkpoint_sha256) == 64
    assert layers.checkpoint_meta["model_name"] == "lenet5"
    assert layers.calibration.samples == 48 and layers.calibration.dataset_seed == 0
    assert load_layer_records(lenet_run.out) == list(lenet_run.records)
    for entry in layers.layers:
        assert {"model", "checkpoint_id", "method", "target_sparsity", "accuracy"} <= set(entry)


def test_the_simulate_stage_reads_the_folder(lenet_run: ExtractResult) -> None:
    from sparse_hw.pipeline import _extract_layers

    layers, by_order, facts = _extract_layers(lenet_run.out)
    assert len(layers) == 5 and sorted(by_order) == [0, 1, 2, 3, 4]
    assert facts == {"method": "l1", "target_sparsity": 0.7, "accuracy": 0.9}
    assert layers["checkpoint"].iloc[0] == lenet_run.checkpoint_id


def test_weight_histogram_counts_every_nonzero_weight(lenet_run: ExtractResult) -> None:
    hist = pd.read_csv(lenet_run.weight_hist, dtype={"checkpoint": str})
    assert list(hist.columns) == ["model", "checkpoint", "layer", "bin_lo", "bin_hi", "count"]
    totals = hist.groupby("layer", sort=False)["count"].sum().to_dict()
    assert totals == {r.layer: r.weight_nnz for r in lenet_run.records}
    edges = hist[hist["layer"] == "conv1"][["bin_lo", "bin_hi"]].to_numpy()
    assert (edges == hist[hist["layer"] == "fc3"][["bin_lo", "bin_hi"]].to_numpy()).all()  # shared bins
    assert (edges[1:, 0] == edges[:-1, 1]).all() and (edges[:, 1] > edges[:, 0]).all()


def test_same_seed_same_output_other_seed_other_samples(tmp_path: Path) -> None:
    ckpt = lenet_checkpoint(tmp_path / "l.pt")
    a = extract(ckpt, out=tmp_path / "a", calib_samples=40, seed=0)
    b = extract(ckpt, out=tmp_path / "b", calib_samples=40, seed=0, batch_size=7)
    c = extract(ckpt, out=tmp_path / "c", calib_samples=40, seed=1)
    assert (tmp_path / "a/layers.csv").read_bytes() != b""
    assert [r.input_density for r in a.records] == [
        r.input_density for r in b.records
    ]  # batching is irrelevant
    for pa, pb in zip(a.problems, b.problems, strict=True):
        assert pa.read_text() == pb.read_text()
    assert [r.input_density for r in a.records] != [r.input_density for r in c.records]


def test_a_failed_run_leaves_the_previous_output_untouched(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    ckpt = lenet_checkpoint(tmp_path / "l.pt")
    extract(ckpt, out=tmp_path / "ex", calib_samples=16)
    before = {p: p.read_bytes() for p in (tmp_path / "ex").rglob("*") if p.is_file()}
    from sparse_hw.extract import api

    calls = []

    def failing_check(path, record, **kwargs):
        calls.append(path)
        if len(calls) == 3:
            raise RuntimeError("disk full")
        return ["yaml"]

    monkeypatch.setattr(api, "check_problem", failing_check)
    with pytest.raises(RuntimeError, match="disk full"):
        extract(ckpt, out=tmp_path / "ex", calib_samples=16, seed=9)
    after = {p: p.read_bytes() for p in (tmp_path / "ex").rglob("*") if p.is_file()}
    assert after == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ex", "l.pt"]  # no temporary folder left


def test_pad_pads_prime_dimensions(tmp_path: Path) -> None:
    model = torch.nn.Sequential(torch.nn.Conv1d(131, 64, 1), torch.nn.ReLU(), torch.nn.Conv1d(64, 10, 1))
    torch.save(model, tmp_path / "m.pt")
    batches = seeded_batches((131, 26), n=2, batch=2)
    plain = extract(tmp_path / "m.pt", trust=True, batches=batches, out=tmp_path / "a")
    padded = extract(tmp_path / "m.pt", trust=True, batches=batches, out=tmp_path / "b", pad=True)
    assert plain.records[0].prime_dims == (("C", 131), ("Q", 26))  # 26 = 2 x 13
    assert plain.records[0].padded == ()
    r = padded.records[0]
    assert r.padded == (("C", 135), ("Q", 27))
    text = padded.problems[0].read_text()
    assert "C: 135" in text and "padded by --pad" in text
    assert pd.read_csv(tmp_path / "b/layers.csv")["padded"].iloc[0] == "C:131->135;Q:26->27"
    assert "C: 131" in plain.problems[0].read_text()
    assert any("--pad" in n for n in plain.notes)
    assert r.op == "conv1d" and (r.Q, r.S, r.P, r.R) == (26, 1, 1, 1)


class Twice(torch.nn.Module):
    """Applies the same Linear twice (weight sharing)."""

    def __init__(self) -> None:
        super().__init__()
        self.fc = torch.nn.Linear(8, 8)
        self.out = torch.nn.Linear(8, 2)

    def forward(self, x):
        return self.out(torch.relu(self.fc(torch.relu(self.fc(x)))))


def test_reused_module_counts_as_instances(tmp_path: Path) -> None:
    torch.save(Twice(), tmp_path / "t.pt")
    result = extract(tmp_path / "t.pt", trust=True, batches=[torch.randn(4, 8)], out=tmp_path / "ex")
    fc = result.records[0]
    assert (fc.layer, fc.N, fc.macs) == ("fc", 2, 2 * 64)
    assert fc.input_numel == 2 * 4 * 8  # both calls counted


# ------------------------------------------------------------------------------------------ CLI
def test_cli_help_lists_the_contract_flags() -> None:
    result = runner.invoke(app, ["extract", "--help"], env={"COLUMNS": "200"})
    assert result.exit_code == 0
    for flag in (
        "--data",
        "--calib-samples",
        "--seed",
        "--out",
        "--model",
        "--dialect",
        "--pad",
        "--trust-checkpoint",
        "--batch-size",
        "--model-kwargs",
    ):
        assert flag in result.output


def test_cli_is_a_thin_shell(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    real = extract  # the library function the pipeline forwards to: its signature checks the call
    fake = mock.create_autospec(real, return_value=ExtractResult(
        records=(), out=tmp_path, layers_csv=tmp_path / "layers.csv", layers_json=tmp_path / "layers.json",
        weight_hist=tmp_path / "weight_hist.csv", manifest=tmp_path / "manifest.json", problems=(), model="lenet5",
        checkpoint_id="abc"))  # fmt: skip
    monkeypatch.setattr(pipeline, "extract", fake)
    result = runner.invoke(
        app,
        [
            "extract",
            "c.pt",
            "--out",
            str(tmp_path / "o"),
            "--data",
            "digits",
            "--calib-samples",
            "12",
            "--seed",
            "4",
            "--dialect",
            "v0.3",
            "--pad",
            "--model",
            "lenet5",
            "--model-kwargs",
            '{"image_size": 8}',
            "--batch-size",
            "3",
        ],
    )
    assert result.exit_code == 0, result.output
    fake.assert_called_once()
    args, kwargs = fake.call_args
    assert args == (Path("c.pt"),)
    assert {
        k: kwargs[k]
        for k in (
            "data",
            "calib_samples",
            "seed",
            "dialect",
            "pad",
            "model",
            "model_kwargs",
            "batch_size",
            "trust",
            "out",
        )
    } == {
        "data": "digits",
        "calib_samples": 12,
        "seed": 4,
        "dialect": "v0.3",
        "pad": True,
        "model": "lenet5",
        "model_kwargs": {"image_size": 8},
        "batch_size": 3,
        "trust": False,
        "out": tmp_path / "o",
    }


def test_cli_writes_the_folder(tmp_path: Path) -> None:
    ckpt = lenet_checkpoint(tmp_path / "l.pt")
    result = runner.invoke(
        app, ["extract", str(ckpt), "--out", str(tmp_path / "ex"), "--calib-samples", "16"]
    )
    assert result.exit_code == 0, result.output
    assert (tmp_path / "ex/layers.csv").is_file() and "5 layers" in result.output


def test_cli_refuses_an_untrusted_pickle_with_exit_2(tmp_path: Path) -> None:
    torch.save(create_model("lenet5", num_classes=10, in_channels=1, image_size=8), tmp_path / "module.pt")
    result = runner.invoke(
        app,
        [
            "extract",
            str(tmp_path / "module.pt"),
            "--out",
            str(tmp_path / "ex"),
            "--model",
            "lenet5",
            "--data",
            "digits",
        ],
    )
    assert result.exit_code == 2
    assert "--trust-checkpoint" in result.output and "Traceback" not in result.output
    assert not (tmp_path / "ex").exists()
    trusted = runner.invoke(
        app,
        [
            "extract",
            str(tmp_path / "module.pt"),
            "--out",
            str(tmp_path / "ex"),
            "--model",
            "lenet5",
            "--data",
            "digits",
            "--trust-checkpoint",
            "--calib-samples",
            "8",
        ],
    )
    assert trusted.exit_code == 0, trusted.output


@pytest.mark.parametrize("args, message", [
    (["--dialect", "v0.5"], "unknown dialect"),
    (["--calib-samples", "0"], "calib_samples"),
    (["--model-kwargs", "{nope"], "not JSON"),
    (["--data", "cifar10:/nonexistent/cifar"], "does not exist"),
])  # fmt: skip
def test_cli_bad_input_exits_2(tmp_path: Path, args: list[str], message: str) -> None:
    ckpt = lenet_checkpoint(tmp_path / "l.pt")
    result = runner.invoke(app, ["extract", str(ckpt), "--out", str(tmp_path / "ex"), *args])
    assert result.exit_code == 2, result.output
    assert message in result.output
    assert not (tmp_path / "ex").exists()


def test_model_checkpoint_of_points_model_uses_its_dataset(tmp_path: Path) -> None:
    kwargs = {"num_classes": 12, "in_channels": 3, "width": 0.125, "npoint": (16, 8), "radius": (0.2, 0.4),
              "nsample": (8, 8), "dropout": 0.0, "fps_seed": 0}  # fmt: skip
    model = create_model("pointnet2", **kwargs).eval()
    ckpt = model_checkpoint(
        tmp_path / "p.pt",
        model,
        "pointnet2",
        kwargs,
        dataset="synthetic-shapes",
        dataset_options={"n_points": 64, "per_class_train": 2, "per_class_test": 2},
        input_kind="points",
        input_shape=[3, 64],
    )
    result = extract(ckpt, out=tmp_path / "ex", calib_samples=24, batch_size=8)
    assert len(result.records) == 12 and result.records[0].calib_samples == 24
    assert result.records[0].P == 16 and result.records[0].Q == 8


class WithExtras(torch.nn.Module):
    """A conv net with a transposed conv (no CNN-layer form) and a layer the forward never calls."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = torch.nn.Conv2d(3, 4, 3, padding="same")
        self.up = torch.nn.ConvTranspose2d(4, 4, 2, stride=2)
        self.unused = torch.nn.Linear(3, 3)
        self.head = torch.nn.Linear(4, 2)

    def forward(self, x):
        return self.head(self.up(torch.relu(self.conv(x))).mean(dim=(2, 3)))


def test_skipped_layers_are_reported(tmp_path: Path) -> None:
    torch.save(WithExtras(), tmp_path / "m.pt")
    result = extract(tmp_path / "m.pt", trust=True, batches=[torch.randn(2, 3, 6, 5)], out=tmp_path / "ex")
    assert [r.layer for r in result.records] == ["conv", "head"]
    conv = result.records[0]
    assert (conv.pad_h, conv.pad_w, conv.P, conv.Q) == (1, 1, 5, 6)  # padding="same"
    assert conv.output_consumer == "head"  # through the transposed conv, which is not a problem of its own
    assert "conv_transpose2d" in conv.output_density_source
    notes = " ".join(result.notes)
    assert "not executed" in notes and "unused" in notes
    assert "up (ConvTranspose2d)" in notes


def test_a_model_without_conv_or_linear_is_refused(tmp_path: Path) -> None:
    from sparse_hw.errors import ConfigError

    torch.save(torch.nn.Sequential(torch.nn.ReLU()), tmp_path / "m.pt")
    with pytest.raises(ConfigError, match="no Conv1d, Conv2d or Linear"):
        extract(tmp_path / "m.pt", trust=True, batches=[torch.randn(2, 3)], out=tmp_path / "ex")


def test_data_that_does_not_fit_the_model(tmp_path: Path) -> None:
    from sparse_hw.errors import DataError

    torch.save(torch.nn.Sequential(torch.nn.Linear(8, 2)), tmp_path / "m.pt")
    with pytest.raises(DataError, match=r"does not run on the calibration data \(input \[2, 5\]\)"):
        extract(tmp_path / "m.pt", trust=True, batches=[torch.randn(2, 5)], out=tmp_path / "ex")
    with pytest.raises(DataError, match="empty"):
        extract(tmp_path / "m.pt", trust=True, batches=[], out=tmp_path / "ex")
