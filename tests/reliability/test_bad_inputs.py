"""Bad and hostile inputs to train, extract, simulate, report and run are refused cleanly (issue 15, items 3, 4, 6, 7).

Every case runs a real ``sparse-hw`` process and checks what the user sees and what is left on disk:

* exit code 2, no traceback and no "internal error";
* the file (or flag) and the key at fault are named, with a fix;
* nothing is written (the case folder, which holds every input and the ``--out`` target, is unchanged
  byte for byte) and nothing is deleted.

Classes: checkpoint metadata that steers work (huge models, shapes, dataset paths; item 3), contradictory
numbers in edited tables and a diverging learning rate (item 4), ordinary bad inputs and environment errors
(item 6), run configurations that escape their folder or name unknown parts (item 7).
"""

from __future__ import annotations

import errno
import json
import math
import os
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pandas as pd
import pytest
import torch
import typer
from typer.testing import CliRunner

from tests.extract.helpers import LENET_DIGITS
from tests.reliability.tiny import RUN, Case, assert_case_refused, cli_in, run_config, snapshot

REPO = Path(__file__).resolve().parents[2]


# ------------------------------------------------------------------------------------------- inputs
def _checkpoint(base: Path, dest: Path, *, meta: dict | None = None, state: Callable[[dict], None] | None = None,
                plain: bool = False) -> Path:
    """A copy of the tiny checkpoint with metadata fields replaced and/or tensors edited."""
    obj = torch.load(base / "ok.pt", map_location="cpu", weights_only=True)
    obj["meta"] = dict(obj["meta"]) | (meta or {})
    obj["state_dict"] = {k: v.clone() for k, v in obj["state_dict"].items()}
    if state is not None:
        state(obj["state_dict"])
    torch.save(obj["state_dict"] if plain else obj, dest)
    return dest


def _set(name: str, index: tuple, value: float) -> Callable[[dict], None]:
    def edit(sd: dict) -> None:
        sd[name][index] = value

    return edit


def _bomb(levels: int = 7) -> list:
    """Ten references to the same list at every level: 90 KB on disk, 10^8 strings when unfolded."""
    x: list = ["abcdefgh" * 4] * 10
    for _ in range(levels):
        x = [x] * 10
    return x


def _edited_extract(base: Path, dest: Path, edit: Callable[[pd.DataFrame], pd.DataFrame | None] | None = None,
                    text: str | None = None) -> Path:
    shutil.copytree(base / "ex", dest)
    if text is not None:
        (dest / "layers.csv").write_text(text)
    if edit is not None:
        df = pd.read_csv(dest / "layers.csv", dtype=str)
        edited = edit(df)
        df = edited if edited is not None else df
        (dest / "layers.csv").write_text(df.to_csv(index=False))
    return dest


def _cell(column: str, value: str, row: int = 0) -> Callable[[pd.DataFrame], None]:
    def edit(df: pd.DataFrame) -> None:
        df.loc[row, column] = value

    return edit


def _edit_json(path: Path, **changes) -> None:
    path.write_text(json.dumps(json.loads(path.read_text()) | changes))


def _edit_csv(path: Path, column: str, value: str) -> None:
    df = pd.read_csv(path, dtype=str)
    df.loc[0, column] = value
    path.write_text(df.to_csv(index=False))


def _edited_results(base: Path, dest: Path, column: str, value: float) -> Path:
    shutil.copytree(base / "sim", dest)
    df = pd.read_csv(dest / "results.csv", dtype={"checkpoint": str})
    df[column] = df[column].astype("float64")
    df.loc[3, column] = value
    (dest / "results.csv").write_text(df.to_csv(index=False))
    return dest


# ------------------------------------------------------------------------------------------- cases
def _extract(ckpt: str, *extra: str) -> list[str]:
    return ["extract", ckpt, "--out", "out", "--calib-samples", "8", *extra]


def _simulate(folder: str) -> list[str]:
    return ["simulate", folder, "--arch", "eyeriss_like", "--out", "out", "--jobs", "1"]


LONG = "n" * 300

CASES: dict[str, Case] = {
    # train: flags validated before any data is built (item 4: --lr inf wrote an all-NaN checkpoint)
    "train-lr-inf": Case(lambda b, c: ["train", "--model", "lenet5", "--data", "digits", "--lr", "inf",
                                       "--out", "m.pt"], ("'lr'", "finite")),
    "train-lr-nan": Case(lambda b, c: ["train", "--model", "lenet5", "--data", "digits", "--lr", "nan",
                                       "--out", "m.pt"], ("'lr'", "finite")),
    "train-lr-zero": Case(lambda b, c: ["train", "--model", "lenet5", "--data", "digits", "--lr", "0",
                                        "--out", "m.pt"], ("'lr'", "greater than 0")),
    "train-data-opt-text": Case(lambda b, c: ["train", "--model", "pointnet2", "--data-opt", "n_points=abc",
                                              "--out", "m.pt"], ("data_options.n_points", "integer", "'abc'")),
    "train-data-opt-huge": Case(lambda b, c: ["train", "--model", "pointnet2", "--data-opt", "n_points=999999999999",
                                              "--out", "m.pt"], ("data_options.n_points", "between")),
    "train-model-arg-huge": Case(lambda b, c: ["train", "--model", "pointnet2", "--model-arg", "width=100000",
                                               "--out", "m.pt"], ("model_kwargs", "parameters")),
    "train-unknown-model": Case(lambda b, c: ["train", "--model", "lenet55", "--out", "m.pt"],
                                ("'model'", "did you mean 'lenet5'")),
    "train-unknown-data": Case(lambda b, c: ["train", "--model", "lenet5", "--data", "digitz", "--out", "m.pt"],
                               ("'data'", "did you mean 'digits'")),
    "train-init-nan": Case(lambda b, c: ["train", "--model", "lenet5", "--data", "digits", "--epochs", "0",
                                         "--init", str(_checkpoint(b, c / "nan.pt", state=_set(
                                             "conv1.weight", (0, 0, 0, 0), math.nan))), "--out", "m.pt"],
                           ("nan.pt", "state_dict.conv1.weight", "NaN")),
    # extract: checkpoint metadata may not steer allocation or where data is read from (item 3)
    "extract-meta-huge-classes": Case(
        lambda b, c: _extract(str(_checkpoint(b, c / "m.pt", meta={"model_kwargs": LENET_DIGITS | {
            "num_classes": 10**9}}))), ("m.pt", "meta.model_kwargs", "parameters")),
    "extract-meta-huge-image": Case(
        lambda b, c: _extract(str(_checkpoint(b, c / "m.pt", meta={"model_kwargs": LENET_DIGITS | {
            "image_size": 10**6}}))), ("m.pt", "meta.model_kwargs", "parameters")),
    "extract-meta-huge-input-shape": Case(
        lambda b, c: _extract(str(_checkpoint(b, c / "m.pt", meta={"input_shape": [3, 100000, 100000]}))),
        ("m.pt", "meta.input_shape", "elements")),
    "extract-meta-negative-shape": Case(
        lambda b, c: _extract(str(_checkpoint(b, c / "m.pt", meta={"input_shape": [1, -8, 8]}))),
        ("m.pt", "meta.input_shape")),
    "extract-meta-huge-num-classes": Case(
        lambda b, c: _extract(str(_checkpoint(b, c / "m.pt", meta={"num_classes": 10**12}))),
        ("m.pt", "meta.num_classes")),
    "extract-meta-dataset-path": Case(
        lambda b, c: _extract(str(_checkpoint(b, c / "m.pt", meta={"dataset": "imagefolder:/usr/share"}))),
        ("m.pt", "meta.dataset", "--data")),
    "extract-meta-dataset-options": Case(
        lambda b, c: _extract(str(_checkpoint(b, c / "m.pt", meta={
            "dataset": "synthetic-shapes", "dataset_options": {"n_points": 10**9}}))),
        ("m.pt", "meta.dataset_options", "n_points")),
    "extract-plain-huge-kwargs": Case(
        lambda b, c: _extract(str(_checkpoint(b, c / "m.pt", plain=True)), "--model", "lenet5", "--data", "digits",
                              "--model-kwargs", '{"image_size": 1000000}'), ("m.pt", "model_kwargs", "parameters")),
    "extract-nan-weight": Case(
        lambda b, c: _extract(str(_checkpoint(b, c / "m.pt", state=_set("conv2.weight", (1, 0, 0, 0), math.nan)))),
        ("m.pt", "state_dict.conv2.weight", "NaN")),
    "extract-inf-bias": Case(
        lambda b, c: _extract(str(_checkpoint(b, c / "m.pt", state=_set("fc3.bias", (2,), math.inf)))),
        ("m.pt", "state_dict.fc3.bias", "infinite")),
    "extract-expanded-view": Case(
        lambda b, c: _extract(str(_checkpoint(b, c / "m.pt", state=lambda sd: sd.__setitem__(
            "conv1.weight", torch.zeros(1).expand(6, 1, 5, 5 * 10**6))))), ("m.pt", "state_dict.conv1.weight", "storage")),
    "extract-meta-reference-bomb": Case(
        lambda b, c: _extract(str(_checkpoint(b, c / "m.pt", meta={"schedule": {"x": _bomb()}}))),
        ("m.pt", "meta.schedule.x", "unfolded")),
    "extract-sparse-tensor": Case(
        lambda b, c: _extract(str(_checkpoint(b, c / "m.pt", state=lambda sd: sd.__setitem__(
            "fc3.bias", torch.eye(10)[0].to_sparse())))), ("m.pt", "state_dict.fc3.bias", "sparse")),
    "extract-integer-weights": Case(
        lambda b, c: _extract(str(_checkpoint(b, c / "m.pt", state=lambda sd: sd.__setitem__(
            "conv1.weight", sd["conv1.weight"].to(torch.int64))))), ("m.pt", "state_dict.conv1.weight", "int64")),
    "extract-history-index-past-end": Case(
        lambda b, c: _extract(str(_checkpoint(b, c / "m.pt", meta={"pruning_history": [["conv1", True, [999]]]}))),
        ("m.pt", "meta.pruning_history[0]", "6 output channels")),
    "extract-history-negative-index": Case(
        lambda b, c: _extract(str(_checkpoint(b, c / "m.pt", meta={"pruning_history": [["conv1", True, [-1]]]}))),
        ("m.pt", "meta.pruning_history[0]")),
    "extract-text-file": Case(lambda b, c: ((c / "notes.pt").write_text("hello"), _extract("notes.pt"))[-1],
                              ("notes.pt", "corrupt")),
    # extract: environment errors (item 6)
    "extract-out-name-too-long": Case(lambda b, c: ["extract", str(shutil.copy(b / "ok.pt", c / "ok.pt")),
                                                    "--out", LONG, "--calib-samples", "8"],
                                      (LONG, "too long")),
    "extract-out-symlink-loop": Case(lambda b, c: (os.symlink("loop_b", c / "loop_a"), os.symlink(
        "loop_a", c / "loop_b"), ["extract", str(shutil.copy(b / "ok.pt", c / "ok.pt")), "--out", "loop_a/out",
                                  "--calib-samples", "8"])[-1], ("loop_a", "symbolic link")),
    "extract-ckpt-symlink-loop": Case(lambda b, c: (os.symlink("x_b", c / "x_a"), os.symlink(
        "x_a", c / "x_b"), _extract("x_a"))[-1], ("x_a",)),
    # simulate: every row of an edited layers.csv is checked (items 4 and 6)
    "simulate-density-above-one": Case(lambda b, c: _simulate(str(_edited_extract(
        b, c / "ex", _cell("weight_density", "1.7")))), ("layers.csv", "weight_density", "conv1", "1.7")),
    "simulate-negative-density": Case(lambda b, c: _simulate(str(_edited_extract(
        b, c / "ex", _cell("input_density", "-0.2", row=2)))), ("layers.csv", "input_density", "line 4")),
    "simulate-negative-dimension": Case(lambda b, c: _simulate(str(_edited_extract(
        b, c / "ex", _cell("C", "-3")))), ("layers.csv", "'C'", "conv1", "-3")),
    "simulate-zero-dimension": Case(lambda b, c: _simulate(str(_edited_extract(
        b, c / "ex", _cell("P", "0", row=1)))), ("layers.csv", "'P'", "conv2")),
    "simulate-fractional-dimension": Case(lambda b, c: _simulate(str(_edited_extract(
        b, c / "ex", _cell("M", "2.5")))), ("layers.csv", "'M'", "whole number")),
    "simulate-text-dimension": Case(lambda b, c: _simulate(str(_edited_extract(
        b, c / "ex", _cell("Q", "abc")))), ("layers.csv", "'Q'", "abc")),
    "simulate-huge-dimension": Case(lambda b, c: _simulate(str(_edited_extract(
        b, c / "ex", _cell("R", "1" + "0" * 29)))), ("layers.csv", "'R'")),
    "simulate-missing-column": Case(lambda b, c: _simulate(str(_edited_extract(
        b, c / "ex", lambda df: df.drop(columns=["M"])))), ("layers.csv", "'M'", "missing column")),
    "simulate-empty-layers": Case(lambda b, c: _simulate(str(_edited_extract(b, c / "ex", text=""))),
                                  ("layers.csv", "empty")),
    "simulate-header-only": Case(lambda b, c: _simulate(str(_edited_extract(
        b, c / "ex", text=(b / "ex" / "layers.csv").read_text().splitlines()[0] + "\n"))), ("layers.csv", "no rows")),
    "simulate-repeated-order": Case(lambda b, c: _simulate(str(_edited_extract(
        b, c / "ex", _cell("order", "0", row=1)))), ("layers.csv", "'order'", "more than once")),
    "simulate-broken-layers-json": Case(lambda b, c: (_edited_extract(b, c / "ex"), (c / "ex" / "layers.json").write_text(
        "{not json"), _simulate(str(c / "ex")))[-1], ("layers.json", "JSON")),
    "simulate-accuracy-above-one": Case(lambda b, c: (_edited_extract(b, c / "ex"), _edit_json(
        c / "ex" / "layers.json", accuracy=7.5), _simulate(str(c / "ex")))[-1], ("layers.json", "'accuracy'", "7.5")),
    # report: energies that cannot be summed (item 4)
    "report-negative-energy": Case(lambda b, c: ["report", str(_edited_results(b, c / "sim", "energy_pj", -5.0)),
                                                 "--out", "out"], ("results.csv", "energy_pj", "-5")),
    "report-infinite-energy": Case(lambda b, c: ["report", str(_edited_results(b, c / "sim", "energy_pj", math.inf)),
                                                 "--out", "out"], ("results.csv", "energy_pj", "inf")),
    "report-negative-cycles": Case(lambda b, c: ["report", str(_edited_results(b, c / "sim", "cycles", -1.0)),
                                                 "--out", "out"], ("results.csv", "cycles")),
    "report-utilization-above-one": Case(lambda b, c: ["report", str(_edited_results(
        b, c / "sim", "utilization", 1.5)), "--out", "out"], ("results.csv", "utilization", "1.5")),
    "report-infinite-breakdown": Case(lambda b, c: (
        shutil.copytree(b / "sim", c / "sim"), _edit_csv(c / "sim" / "breakdown.csv", "value", "inf"),
        ["report", str(c / "sim"), "--out", "out"])[-1], ("breakdown.csv", "'value'", "finite")),
    "report-negative-histogram-count": Case(lambda b, c: (
        _edited_extract(b, c / "ex"), _edit_csv(c / "ex" / "weight_hist.csv", "count", "-4"),
        ["report", str(shutil.copytree(b / "sim", c / "sim")), "--extract", str(c / "ex"), "--out", "out"])[-1],
        ("weight_hist.csv", "count", "-4")),
    # run: the whole configuration is checked before anything trains (item 7)
    "run-out-escapes": Case(lambda b, c: run_config(c, out="../../.."), ("run.yaml", "'out'", "..")),
    "run-name-escapes": Case(lambda b, c: run_config(c, name="../../x"), ("run.yaml", "'name'", "folder name")),
    "run-checkpoint-name-escapes": Case(lambda b, c: run_config(c, checkpoints=[{"name": ".."}]),
                                        ("run.yaml", "checkpoints.0.name", "folder name")),
    "run-unknown-arch": Case(lambda b, c: run_config(c, simulate={"archs": ["eyeriss_likee"]}),
                             ("run.yaml", "simulate.archs[0]", "eyeriss_likee")),
    "run-unknown-model": Case(lambda b, c: run_config(c, train=RUN["train"] | {"model": "lenet6"}),
                              ("run.yaml", "checkpoints[dense].model", "lenet6")),
    "run-unknown-dataset": Case(lambda b, c: run_config(c, train=RUN["train"] | {"data": "cifar"}),
                                ("run.yaml", "checkpoints[dense].data", "cifar10")),
    "run-unknown-method": Case(lambda b, c: run_config(c, checkpoints=[{"name": "a", "methods": ["gmpp"],
                                                                         "sparsity": 0.5}]),
                               ("run.yaml", "checkpoints[a].methods", "gmpp")),
    "run-lr-inf": Case(lambda b, c: run_config(c, train=RUN["train"] | {"lr": math.inf}),
                       ("run.yaml", "checkpoints[dense].lr", "finite")),
    "run-unknown-engine-and-backend": Case(lambda b, c: run_config(c, simulate={
        "archs": ["eyeriss_like"], "engine": "spark", "backend": "magic"}),
        ("run.yaml", "simulate.engine", "simulate.backend", "2 problems")),
    "run-baseline-not-simulated": Case(lambda b, c: run_config(c, report={"baseline": "eyeriss_v2"}),
                                       ("run.yaml", "report.baseline", "eyeriss_v2")),
    "run-empty-out": Case(lambda b, c: run_config(c, out=""), ("run.yaml", "'out'", "empty")),
    "run-missing-init-checkpoint": Case(lambda b, c: run_config(c, train=RUN["train"] | {
        "init_checkpoint": "no/such.pt"}), ("run.yaml", "checkpoints[dense].init_checkpoint", "no/such.pt")),
    "run-epochs-bomb": Case(lambda b, c: run_config(c, train=RUN["train"] | {"epochs": 10**12}),
                            ("run.yaml", "checkpoints[dense].epochs", "10000")),
    "run-sparsity-nan": Case(lambda b, c: run_config(c, checkpoints=[{"name": "a", "methods": ["l1"],
                                                                       "sparsity": math.nan}]),
                             ("run.yaml", "checkpoints[a].sparsity'", "finite")),
    "run-unknown-dialect": Case(lambda b, c: run_config(c, extract={"dialect": "v9"}),
                                ("run.yaml", "extract.dialect", "v9")),
}


@pytest.mark.parametrize("name", list(CASES))
def test_bad_input_is_refused_cleanly(name: str, base: Path, tmp_path: Path) -> None:
    assert_case_refused(CASES[name], base, tmp_path)


# ------------------------------------------------------------------------------------------- legal twins
def test_a_dataset_path_the_user_confirms_is_used(base: Path, tmp_path: Path) -> None:
    """The refusal above is about confirmation, not the path: --data with the dataset runs as usual."""
    ckpt = _checkpoint(base, tmp_path / "m.pt", meta={"dataset": "imagefolder:/no/such/folder"})
    proc = cli_in(_extract(str(ckpt), "--data", "digits"), tmp_path)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert (tmp_path / "out" / "layers.csv").is_file()


def test_a_write_past_the_size_limit_exits_2_and_leaves_nothing(base: Path, tmp_path: Path) -> None:
    """A real failing write: the file-size limit (``ulimit -f``, which binds root too) stands in for a full
    disk; the output files of extract pass 2 KB, so a write fails half-way through the output folder."""
    import resource
    import signal

    def limit() -> None:
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # a failing write() returns EFBIG instead of killing us
        resource.setrlimit(resource.RLIMIT_FSIZE, (2000, 2000))

    ckpt = shutil.copy(base / "ok.pt", tmp_path / "ok.pt")
    before = snapshot(tmp_path)
    env = dict(os.environ, PYTHONPATH=str(REPO), OMP_NUM_THREADS="1", COLUMNS="400", PYTHONDONTWRITEBYTECODE="1")
    proc = subprocess.run([sys.executable, "-m", "sparse_hw", *_extract(str(ckpt))], capture_output=True, text=True,
                          timeout=180, cwd=tmp_path, env=env, stdin=subprocess.DEVNULL, preexec_fn=limit)
    assert proc.returncode == 2, (proc.returncode, proc.stderr[-2000:])
    assert "size limit" in proc.stderr and "Fix:" in proc.stderr and "Traceback" not in proc.stderr
    assert snapshot(tmp_path) == before


# ------------------------------------------------------------------------------------------- in-process
def test_a_diverged_model_is_not_saved(tmp_path: Path) -> None:
    from sparse_hw.errors import CheckpointError
    from sparse_hw.train.checkpoint import CheckpointMeta, save_checkpoint
    from sparse_hw.train.models import create_model

    model = create_model("lenet5", **LENET_DIGITS)
    with torch.no_grad():
        model.fc1.weight.fill_(math.nan)
    with pytest.raises(CheckpointError, match="NaN or infinite") as info:
        save_checkpoint(tmp_path / "m.pt", model, CheckpointMeta(model_name="lenet5", model_kwargs=LENET_DIGITS))
    assert "fc1.weight" in info.value.render() and "--lr" in info.value.render()
    assert list(tmp_path.iterdir()) == []


def test_model_size_is_counted_without_allocating() -> None:
    from sparse_hw.errors import CheckpointError
    from sparse_hw.train.checkpoint import check_model_size, implied_numel
    from sparse_hw.train.models import create_model

    real = create_model("lenet5", **LENET_DIGITS)
    assert implied_numel("lenet5", LENET_DIGITS) == sum(t.numel() for t in (*real.parameters(), *real.buffers()))
    # 10^12 classes: counted on the meta device in well under a second, then refused
    with pytest.raises(CheckpointError, match="parameters"):
        check_model_size("lenet5", LENET_DIGITS | {"num_classes": 10**12}, stored_numel=1000, file="x.pt")
    # sampling arguments size the forward pass, not the parameters
    with pytest.raises(CheckpointError, match="nsample"):
        check_model_size("pointnet2", {"npoint": [128, 32], "nsample": [10**6, 16]}, stored_numel=10**6)
    assert check_model_size("pointnet2", {"npoint": [128, 32], "nsample": [16, 16]}, stored_numel=10**6) > 0
    # a transformer's depth loop and token count (checked before its constructor or forward runs)
    with pytest.raises(CheckpointError, match="tokens"):
        check_model_size("lenet5", {"image_size": 4096, "patch_size": 1}, stored_numel=10**6)
    with pytest.raises(CheckpointError, match="depth"):
        check_model_size("lenet5", {"depth": 10**9}, stored_numel=10**6)


@pytest.mark.parametrize(("code", "says"), [
    (errno.ENOSPC, "no space left"),
    (errno.EROFS, "read-only"),
    (errno.EACCES, "permission denied"),
    (errno.ENAMETOOLONG, "too long"),
    (errno.ELOOP, "symlink loop"),
])
def test_environment_errors_exit_2_naming_the_path(code: int, says: str) -> None:
    """A full disk or read-only output location cannot be made on demand here (the tests run as root):
    the error the system raises is fed to the CLI's handler directly."""
    from sparse_hw.cli._common import handle_errors

    app = typer.Typer()

    @app.command()
    @handle_errors
    def write() -> None:
        raise OSError(code, os.strerror(code), "/data/out/results.csv")

    result = CliRunner().invoke(app, [])
    assert result.exit_code == 2, result.output
    assert says in result.output and "/data/out/results.csv" in result.output and "Fix:" in result.output
    assert "internal error" not in result.output


def test_a_full_cache_disk_exits_2() -> None:
    import sqlite3

    from sparse_hw.cli._common import handle_errors

    app = typer.Typer()

    @app.command()
    @handle_errors
    def write() -> None:
        raise sqlite3.OperationalError("database or disk is full")

    result = CliRunner().invoke(app, [])
    assert result.exit_code == 2, result.output
    assert "--cache" in result.output and "no space left" in result.output and "Fix:" in result.output


def test_bugs_still_exit_1() -> None:
    from sparse_hw.cli._common import handle_errors

    app = typer.Typer()

    @app.command()
    @handle_errors
    def broken() -> None:
        raise RuntimeError("an assumption failed")

    result = CliRunner().invoke(app, [])
    assert result.exit_code == 1 and "internal error" in result.output
