"""More hostile inputs, in the classes of issue 15 (items 1, 3-7), found by a second careless-and-hostile pass.

Each case ran through before its fix: exit 0 with a wrong or doubled result, exit 1 ("internal error"), a hang,
work done (a cache, checkpoints) before the refusal, or files written where they do not belong. Every case
runs a real ``sparse-hw`` process in its own folder and checks what the user sees and what is left on disk:

* exit 2, no traceback and no "internal error";
* the words the error must contain (the file or flag, the key, what is wrong) and a fix;
* nothing written and nothing deleted (the folder, which holds every input and the ``--out`` target, is
  unchanged byte for byte).

Classes: seeds outside numpy's range (item 6), process and grid bombs (item 5), Dask addresses (item 6),
mapper options and names given twice (item 4), hand-edited extract folders (items 2, 4), checkpoint
metadata (item 3), spec values Timeloop cannot hold (item 4), outputs inside an input or in a foreign
folder (items 1, 7). Legal twins at the end must still exit 0.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path

import pandas as pd
import pytest
import torch
import yaml

from tests.reference_cases import input_files
from tests.reliability.tiny import Case, assert_case_refused, cli_in, run_config

REPO = Path(__file__).resolve().parents[2]
MODEL_CASE = "ref__gating__resnet18_conv4x__w0.5_i0.5__model__fixmap"
MAPPER_CASE = "ref__compression__alexnet_conv3__exercise_densities__mapper"


# ------------------------------------------------------------------------------------------- builders
def _ckpt(b: Path, c: Path) -> str:
    return shutil.copy(b / "ok.pt", c / "ok.pt")


def _meta(b: Path, c: Path, **fields) -> str:
    obj = torch.load(b / "ok.pt", map_location="cpu", weights_only=True)
    obj["meta"] = dict(obj["meta"]) | fields
    torch.save(obj, c / "m.pt")
    return "m.pt"


def _extract(ckpt: str, *extra: str) -> list[str]:
    return ["extract", ckpt, "--out", "out", "--calib-samples", "8", *extra]


def _ex(b: Path, c: Path, edit: Callable[[Path], object] | None = None) -> str:
    shutil.copytree(b / "ex", c / "ex")
    if edit is not None:
        edit(c / "ex")
    return "ex"


def _layers(edit: Callable[[pd.DataFrame], None]) -> Callable[[Path], None]:
    def apply(ex: Path) -> None:
        df = pd.read_csv(ex / "layers.csv", dtype=str)
        edit(df)
        (ex / "layers.csv").write_text(df.to_csv(index=False))

    return apply


def _problem(make: Callable[[Path], None]) -> Callable[[Path], None]:
    def apply(ex: Path) -> None:
        p = ex / "problems" / "001_conv2.yaml"
        p.unlink()
        make(p)

    return apply


def _simulate(folder: str, *extra: str) -> list[str]:
    return ["simulate", folder, "--arch", "eyeriss_like", "--out", "out", "--jobs", "1", *extra]


def _sweep(*extra: str) -> Callable[[Path, Path], list[str]]:
    return lambda b, c: ["sweep", "eyeriss_like", _ex(b, c), "--out", "out", "--jobs", "1", *extra]


def _search(c: Path, **changes) -> list[str]:
    cfg = yaml.safe_load((REPO / "examples" / "lenet5_search.yaml").read_text()) | {"out": "sout"} | changes
    (c / "s.yaml").write_text(yaml.safe_dump(cfg))
    return ["search", "s.yaml"]


def _spec(case: str, name: str, old: str, new: str, command: str, *extra: str) -> Callable[[Path, Path], list[str]]:
    """``command`` on a copy of a reference case's inputs with ``old`` replaced by ``new`` in ``name``."""
    def build(b: Path, c: Path) -> list[str]:
        files = []
        for f in input_files(case):
            shutil.copy(f, c / f.name)
            files.append(f.name)
        text = (c / name).read_text()
        assert old in text, (name, old)
        (c / name).write_text(text.replace(old, new, 1))
        return [command, *files, "--out", "out", *extra]

    return build


def _estimate(c: Path, *extra: str) -> list[str]:
    names = ("arch.yaml", "mac.yaml", "regfile_metadata.yaml", "smartbuffer.yaml", "smartbuffer_metadata.yaml")
    for f in input_files(MODEL_CASE):
        if f.name in names:
            shutil.copy(f, c / f.name)
    return ["estimate", *names, "--out", "out", *extra]


def _map(*extra: str) -> Callable[[Path, Path], list[str]]:
    """``map`` on a copy of the mapper reference case's inputs, with ``extra`` options."""
    return _spec(MAPPER_CASE, "problem.yaml", "", "", "map", *extra)


# ------------------------------------------------------------------------------------------- cases
BIG = str(2**70)
PERMUTATION = "permutation: MCRSNPQ"
CASES: dict[str, Case] = {
    # seeds: numpy takes 0 .. 2^32 - 1; outside it the data split failed with an internal error (item 6)
    "extract-seed-negative": Case(lambda b, c: _extract(_ckpt(b, c), "--seed", "-1"), ("'seed'", "4294967295")),
    "extract-seed-huge": Case(lambda b, c: _extract(_ckpt(b, c), "--seed", BIG), ("'seed'", "4294967295")),
    "train-seed-negative": Case(lambda b, c: ["train", "--model", "lenet5", "--data", "digits", "--epochs", "0",
                                              "--seed", "-1", "--out", "m.pt"], ("'seed'", "greater than or equal")),
    # `--out m/` names a folder: a file named m was written instead (item 1: never a file for a folder)
    "train-out-trailing-slash": Case(lambda b, c: ["train", "--model", "lenet5", "--data", "digits", "--epochs",
                                                   "0", "--out", "m/"], ("--out", "names a folder", "m/model.pt")),
    "run-seed-huge": Case(lambda b, c: run_config(c, seed=2**70), ("run.yaml", "'seed'", "less than or equal")),
    "search-seed-negative": Case(lambda b, c: _search(c, seed=-1), ("s.yaml", "'seed'")),
    # process and grid bombs: --jobs 100000 hung the machine starting processes (item 5)
    "simulate-jobs-bomb": Case(lambda b, c: _simulate(_ex(b, c), "--jobs", "100000"), ("'jobs'", "100000")),
    "sweep-jobs-bomb": Case(_sweep("--set", "shared_glb.depth=1024", "--jobs", "100000"), ("'jobs'", "100000")),
    "run-workers-bomb": Case(lambda b, c: run_config(c, simulate={"archs": ["eyeriss_like"], "workers": 100000}),
                             ("run.yaml", "simulate.workers", "100000")),
    "sweep-grid-bomb": Case(_sweep("--set", "shared_glb.depth=" + ",".join(map(str, range(1, 2001))),
                                   "--set", "DRAM.width=" + ",".join(map(str, range(1, 2001)))),
                            ("--set", "4,000,000 points")),
    # a Dask address that is none was an internal error, in `run` after the checkpoints had trained (item 6)
    "simulate-scheduler-garbage": Case(lambda b, c: _simulate(_ex(b, c), "--engine", "dask", "--scheduler",
                                                              "nonsense:::"), ("'scheduler'", "nonsense:::")),
    "run-scheduler-garbage": Case(lambda b, c: run_config(c, simulate={"archs": ["eyeriss_like"], "engine": "dask",
                                                                 "scheduler": "zz://x:1"}),
                                  ("run.yaml", "simulate.scheduler", "'zz'")),
    # mapper options: a negative budget read as "already out of time", --mode genetic ran the random search
    "map-budget-negative": Case(_map("--budget-s", "-1"),
                                ("--budget-s", "-1")),
    "map-budget-nan": Case(_map("--budget-s", "nan"),
                           ("--budget-s", "nan")),
    "map-unknown-mode": Case(_map("--mode", "genetic"),
                             ("--mode", "genetic")),
    "simulate-budget-negative": Case(lambda b, c: _simulate(_ex(b, c), "--budget-s", "-1"), ("--budget-s",)),
    # a negative mapper seed was accepted (and failed inside the random sampling of a large mapspace)
    "map-seed-negative": Case(_map("--seed", "-1"), ("--seed", "-1", "4294967295")),
    "simulate-seed-huge": Case(lambda b, c: _simulate(_ex(b, c), "--seed", str(2**32)), ("--seed", "4294967296")),
    # found inside every job before, after the cache had been made in the working folder
    "simulate-unknown-objective": Case(lambda b, c: _simulate(_ex(b, c), "--objective", "speed"),
                                       ("--objective", "speed")),
    "simulate-unknown-engine": Case(lambda b, c: _simulate(_ex(b, c), "--engine", "spark"), ("--engine", "spark")),
    "estimate-jinja-without-name": Case(lambda b, c: _estimate(c, "--jinja", "=x"),
                                        ("--jinja", "'=x'", "variable name")),
    "sweep-budget-zero": Case(_sweep("--set", "shared_glb.depth=1024", "--budget-s", "0"), ("--budget-s",)),
    # names given twice mapped every layer twice, then the report refused the doubled rows (item 4)
    "simulate-folder-twice": Case(lambda b, c: _simulate(_ex(b, c), "ex/"), ("ex", "given twice")),
    "simulate-arch-twice": Case(lambda b, c: _simulate(_ex(b, c), "--arch", "eyeriss_like"),
                                ("--arch", "eyeriss_like", "twice")),
    "run-arch-twice": Case(lambda b, c: run_config(c, simulate={"archs": ["eyeriss_like", "eyeriss_like"]}),
                           ("run.yaml", "simulate.archs", "twice")),
    "simulate-layer-name-twice": Case(lambda b, c: _simulate(_ex(b, c, _layers(
        lambda df: df.__setitem__("layer", ["conv1", "conv1", *df["layer"][2:]])))),
        ("layers.csv", "'layer'", "'conv1'", "more than once")),
    # hand-edited extract folders: checked before any job starts (items 2 and 4)
    "simulate-layers-json-list": Case(lambda b, c: _simulate(_ex(b, c, lambda ex: (ex / "layers.json").write_text(
        "[1, 2]"))), ("layers.json", "not an object")),
    "simulate-problem-file-empty": Case(lambda b, c: _simulate(_ex(b, c, _problem(lambda p: p.write_text("")))),
                                        ("001_conv2.yaml", "empty")),
    "simulate-problem-file-folder": Case(lambda b, c: _simulate(_ex(b, c, _problem(lambda p: p.mkdir()))),
                                         ("001_conv2.yaml", "not a regular file")),
    "simulate-problem-file-links-out": Case(lambda b, c: _simulate(_ex(b, c, _problem(
        lambda p: p.symlink_to("/etc/hostname")))), ("001_conv2.yaml", "outside its extract folder")),
    # checkpoint metadata: fractions outside [0, 1] reached layers.csv and results (item 3)
    "extract-meta-target-sparsity-7": Case(lambda b, c: _extract(_meta(b, c, target_sparsity=7.0)),
                                           ("m.pt", "meta.target_sparsity", "less than or equal to 1")),
    "extract-meta-accuracy-percent": Case(lambda b, c: _extract(_meta(b, c, accuracy_after=95.0)),
                                          ("m.pt", "meta.accuracy_after")),
    # spec values: a loop order naming a dimension twice, an attribute no 64-bit integer holds (item 4)
    "model-permutation-repeats": Case(_spec(MODEL_CASE, "mapping.yaml", PERMUTATION, "permutation: MMCRSNPQ",
                                            "model"), ("mapping.yaml", "permutation", "twice")),
    "model-attribute-2-to-70": Case(_spec(MODEL_CASE, "arch.yaml", "data_storage_width: 64",
                                          f"data_storage_width: {BIG}", "model"),
                                    ("arch.yaml", "data_storage_width", "largest")),
    # ... and numbers numpy cannot hold (an OverflowError, exit 1) or a negative stride (a division by zero)
    "model-split-2-to-70": Case(_spec(MODEL_CASE, "mapping.yaml", "split: 0", f"split: {BIG}", "model"),
                                ("mapping.yaml", "split", "largest")),
    "model-stride-2-to-70": Case(_spec(MODEL_CASE, "problem.yaml", "Hstride: 1", f"Hstride: {BIG}", "model"),
                                 ("problem.yaml", "Hstride", "between 1 and")),
    "model-stride-negative": Case(_spec(MODEL_CASE, "problem.yaml", "Hstride: 1", "Hstride: -1", "model"),
                                  ("problem.yaml", "Hstride=-1")),
    # outputs: inside an input folder, or a foreign folder for a run (items 1 and 7)
    "simulate-out-inside-extract": Case(lambda b, c: ["simulate", _ex(b, c), "--arch", "eyeriss_like", "--out",
                                                      "ex/sim", "--jobs", "1"], ("ex/sim", "--out", "inside")),
    "simulate-cache-inside-extract": Case(lambda b, c: _simulate(_ex(b, c), "--cache", "ex/c.db"),
                                          ("ex/c.db", "--cache", "inside the input folder")),
    "sweep-cache-inside-extract": Case(_sweep("--set", "shared_glb.depth=1024", "--cache", "ex/c.db"),
                                       ("ex/c.db", "--cache", "inside the input folder")),
    "report-out-inside-simulate": Case(lambda b, c: (shutil.copytree(b / "sim", c / "sim"),
                                                     ["report", "sim", "--out", "sim/rep"])[-1],
                                       ("sim/rep", "--out", "inside")),
    "report-extract-missing": Case(lambda b, c: (shutil.copytree(b / "sim", c / "sim"),
                                                 ["report", "sim", "--out", "rep", "--extract", "nope"])[-1],
                                   ("nope", "--extract", "not found")),
    # `out: /` wrote the run's stages into the root folder
    "run-out-foreign-folder": Case(lambda b, c: ((c / "mine").mkdir(), (c / "mine" / "notes.md").write_text("x"),
                                                 run_config(c, out="mine"))[-1], ("run.yaml", "'out'", "notes.md")),
    "run-out-beside-config": Case(lambda b, c: run_config(c, out="."), ("run.yaml", "'out'", "run.yaml")),
    "search-out-foreign-folder": Case(lambda b, c: ((c / "mine").mkdir(), (c / "mine" / "notes.md").write_text("x"),
                                                    _search(c, out="mine"))[-1], ("s.yaml", "'out'", "notes.md")),
    "search-cache-escapes": Case(lambda b, c: _search(c, cache="../../c"), ("s.yaml", "'cache'", "'..'")),
}


@pytest.mark.parametrize("name", list(CASES))
def test_more_bad_input_is_refused_cleanly(name: str, base: Path, tmp_path: Path) -> None:
    assert_case_refused(CASES[name], base, tmp_path)


# ------------------------------------------------------------------------------------------- legal twins
def _ok(args: list[str], cwd: Path) -> subprocess.CompletedProcess:
    proc = cli_in(args, cwd)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "Traceback" not in proc.stderr
    return proc


@pytest.mark.parametrize("edit", ["crlf", "blank-lines", "extra-column", "bom", "no-reason-column"])
def test_hand_saved_layers_csv_still_simulates(edit: str, base: Path, tmp_path: Path) -> None:
    """What a spreadsheet does to a table on save (CRLF, a BOM, blank lines, a notes column) is not an error,
    nor is a `modeled` column without its optional `reason` when every row is modeled (a KeyError, exit 1)."""
    _ex(base, tmp_path)
    path = tmp_path / "ex" / "layers.csv"
    text = path.read_text()
    if edit == "crlf":
        path.write_bytes(text.replace("\n", "\r\n").encode())
    elif edit == "blank-lines":
        path.write_text(text.replace("\n", "\n\n", 2))
    elif edit == "bom":
        path.write_bytes(b"\xef\xbb\xbf" + text.encode())
    elif edit == "no-reason-column":
        path.write_text(pd.read_csv(path, dtype=str).drop(columns=["reason"]).to_csv(index=False))
    else:
        df = pd.read_csv(path, dtype=str)
        path.write_text(df.assign(notes="checked by hand").to_csv(index=False))
    _ok(_simulate("ex"), tmp_path)
    table = pd.read_csv(tmp_path / "out" / "results.csv")
    assert list(table["layer"]) == ["conv1", "conv2", "fc1", "fc2", "fc3"]
    assert (table["energy_pj"] > 0).all()


def test_bom_problem_file_models_like_the_plain_one(tmp_path: Path) -> None:
    """A UTF-8 byte order mark (Windows editors) is legal YAML: same evaluation as without it."""
    energies = []
    for bom in (False, True):
        case = tmp_path / str(bom)
        case.mkdir()
        files = []
        for f in input_files(MODEL_CASE):
            data = f.read_bytes()
            (case / f.name).write_bytes((b"\xef\xbb\xbf" if bom and f.name == "problem.yaml" else b"") + data)
            files.append(f.name)
        _ok(["model", *files, "--out", "out"], case)
        energies.append(json.loads((case / "out" / "evaluation.json").read_text())["energy_pj"])
    assert energies[0] == energies[1]


def test_valid_scheduler_addresses_pass_the_check() -> None:
    from sparse_hw.sweep import check_scheduler

    for address in ("tcp://127.0.0.1:8786", "127.0.0.1:8786", "[::1]:8786", "tls://scheduler:8786", "inproc://x"):
        check_scheduler(address)


def test_a_run_folder_of_an_earlier_run_is_reused(tmp_path: Path) -> None:
    """The foreign-folder refusal keeps what a run wrote, even an interrupted one without a manifest yet."""
    from sparse_hw.errors import ConfigError
    from sparse_hw.io import refuse_foreign_folder
    from sparse_hw.pipeline import _foreign_in_run_dir

    def _check_run_dir(run_dir: Path, config: Path) -> None:  # what `run` calls before its first stage
        refuse_foreign_folder(run_dir, _foreign_in_run_dir, what="run", config=config)

    run_dir = tmp_path / "out"
    (run_dir / "checkpoints").mkdir(parents=True)
    (run_dir / ".sparse-hw-cache.sqlite").write_bytes(b"")
    (run_dir / ".simulate.sparse-hw.lock").write_bytes(b"")
    _check_run_dir(run_dir, tmp_path / "run.yaml")
    (run_dir / "thesis.tex").write_text("x")
    with pytest.raises(ConfigError, match="thesis.tex"):
        _check_run_dir(run_dir, tmp_path / "run.yaml")
