"""The stages from Python: a model defined here goes through extract, simulate and report in memory, and its
state dict through the CLI with --model-factory; both give the same tables."""

from __future__ import annotations

import importlib.util
import math

import pandas as pd
import pytest
import torch
import torch.nn.functional as F
from matplotlib.figure import Figure
from torch import nn
from typer.testing import CliRunner

import sparse_hw
from sparse_hw.cli import app
from sparse_hw.errors import ConfigError

ARCH = "eyeriss_like"
SAMPLES = 32
FACTORY = "tests.api.test_inmemory_api:build_net"
runner = CliRunner()


class PatchMixer(nn.Module):
    """A user's model, not in the registry: a conv stem, self-attention written with matmul, a classifier."""

    def __init__(self) -> None:
        super().__init__()
        self.stem = nn.Conv2d(1, 8, kernel_size=2, stride=2)  # 16 tokens of width 8
        self.qk = nn.Linear(8, 16)
        self.head = nn.Linear(8 * 16, 10)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        t = F.relu(self.stem(x)).flatten(2).transpose(1, 2)  # [B, 16, 8]
        q, k = self.qk(t).chunk(2, dim=-1)
        attn = torch.softmax(q @ k.transpose(1, 2) / math.sqrt(8), dim=-1)  # [B, 16, 16]
        return self.head((attn @ t).flatten(1))


def build_net() -> nn.Module:
    torch.manual_seed(0)
    model = PatchMixer()
    with torch.no_grad():  # some zero weights, so that densities differ from 1
        model.qk.weight[:, ::2] = 0.0
    return model


@pytest.fixture(scope="module")
def ckpt(tmp_path_factory):
    path = tmp_path_factory.mktemp("user") / "mixer.pt"
    torch.save(build_net().state_dict(), path)
    return path


def test_user_model_in_memory_matches_the_cli_with_model_factory(ckpt, tmp_path):
    model = build_net()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    records = sparse_hw.extract(model, "digits", calib_samples=SAMPLES, seed=0)
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())  # the caller's model untouched
    assert model.training and model.stem.weight.is_contiguous()
    table = records.to_pandas()
    assert list(table["layer"]) == ["stem", "qk", "matmul0", "matmul1", "head"]
    assert records.model == "PatchMixer" and len(records) == 5
    results = sparse_hw.simulate(records, archs=[ARCH])
    view = sparse_hw.report(results)
    assert set(view.summary["arch"]) == {ARCH}
    assert view.figures and all(isinstance(f, Figure) for f in view.figures.values())

    ex, sim, rep = tmp_path / "ex", tmp_path / "sim", tmp_path / "rep"
    cli = runner.invoke(app, ["extract", str(ckpt), "--model-factory", FACTORY, "--data", "digits",
                              "--calib-samples", str(SAMPLES), "--seed", "0", "--out", str(ex)])
    assert cli.exit_code == 0, cli.output
    # the same layer table, byte for byte
    assert table.to_csv(index=False) == (ex / "layers.csv").read_text()
    cli = runner.invoke(app, ["simulate", str(ex), "--arch", ARCH, "--out", str(sim)])
    assert cli.exit_code == 0, cli.output
    pd.testing.assert_frame_equal(results.to_pandas(), pd.read_csv(sim / "results.csv"))
    cli = runner.invoke(app, ["report", str(sim), "--out", str(rep)])
    assert cli.exit_code == 0, cli.output
    assert view.summary.to_csv(index=False) == (rep / "summary.csv").read_text()  # written by the same code
    assert view.layers.to_csv(index=False) == (rep / "layers.csv").read_text()


def test_data_forms_and_out_folders(tmp_path):
    model = build_net()
    g = torch.Generator().manual_seed(0)
    inputs = torch.rand(SAMPLES, 1, 8, 8, generator=g)
    labels = torch.zeros(SAMPLES, dtype=torch.long)
    loader = torch.utils.data.DataLoader(torch.utils.data.TensorDataset(inputs, labels), batch_size=8)
    from_loader = sparse_hw.extract(model, loader, calib_samples=SAMPLES).to_pandas()
    from_list = sparse_hw.extract(model, list(inputs.split(8)), calib_samples=SAMPLES).to_pandas()
    from_tensor = sparse_hw.extract(model, inputs, calib_samples=SAMPLES, batch_size=8).to_pandas()
    pd.testing.assert_frame_equal(from_loader, from_list)
    pd.testing.assert_frame_equal(from_loader, from_tensor)
    assert int(from_loader["calib_samples"].iloc[0]) == SAMPLES
    # out= writes the folder (as the CLI does); records.write gives the same table later
    written = sparse_hw.extract(model, "digits", calib_samples=SAMPLES, out=tmp_path / "a")
    assert (tmp_path / "a" / "manifest.json").is_file()
    later = sparse_hw.extract(model, "digits", calib_samples=SAMPLES).write(tmp_path / "b")
    assert (later / "layers.csv").read_text() == (tmp_path / "a" / "layers.csv").read_text() \
        == written.to_pandas().to_csv(index=False)


def test_model_factory_errors(ckpt, tmp_path):
    bad = runner.invoke(app, ["extract", str(ckpt), "--model-factory", "no_such_pkg.mod:fn", "--data", "digits",
                              "--out", str(tmp_path / "x")])
    assert bad.exit_code == 2 and "no_such_pkg" in bad.output
    bad = runner.invoke(app, ["extract", str(ckpt), "--model-factory", "tests.api.test_inmemory_api", "--data",
                              "digits", "--out", str(tmp_path / "x")])
    assert bad.exit_code == 2 and "pkg.module:function" in bad.output
    torch.save(nn.Linear(3, 3).state_dict(), tmp_path / "other.pt")
    bad = runner.invoke(app, ["extract", str(tmp_path / "other.pt"), "--model-factory", FACTORY, "--data", "digits",
                              "--out", str(tmp_path / "x")])
    assert bad.exit_code == 2 and "do not fit" in bad.output
    assert not (tmp_path / "x").exists()
    with pytest.raises(ConfigError):
        sparse_hw.simulate([], archs=[ARCH])


def test_notebook_example_runs(repo_dir):
    spec = importlib.util.spec_from_file_location("notebook_own_model", repo_dir / "examples" / "notebook_own_model.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    out = module.main(["--samples", "16", "--train-steps", "3"])
    table = out["records"]["2:4"].to_pandas()
    assert {"sdpa0.qk", "sdpa0.av"} <= set(table["layer"])
    linear = table[table["op"] == "linear"]
    assert (linear["pattern"] == "n:m").all() and (linear["weight_density"] == 0.5).all()
    assert len(out["results"].to_pandas()) == 2 * len(table)
    assert all(isinstance(f, Figure) for f in out["report"].figures.values())
