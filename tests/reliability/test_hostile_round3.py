"""Hostile and careless inputs, third pass (issue 15: "more hostile cases are held out").

Each case runs a real ``sparse-hw`` process in its own folder (`tiny.assert_case_refused`): exit 2, no
traceback or "internal error", the file and the key named, a fix, and the folder unchanged byte for byte.

Cases marked ``finding`` failed before this pass (the fix is in the module that reads the input):

* an ERT energy or ART area of ``true`` was read as 1.0 (pydantic's lax float);
* a fractional bank, depth or instance count was rounded by the model with exit 0 (`spec.arch`);
* an integer literal of thousands of digits ended in Python's int-conversion ValueError, exit 1
  (`safe_yaml.check_node`), in spec files and run configs alike;
* ``sweep --set`` took ``.nan``, ``.inf`` or a 30-digit depth and wrote a sweep of points none fit, exit 0
  (`archsweep._check_value`);
* ``technology: 45`` (a YAML number) was an internal error in the SRAM estimate (`estimate.primitives`);
* the report's table read architecture names as Rich markup (``[bold]x[/bold]`` printed as ``x``);
* ``epochs: true`` / ``calib_samples: true`` / ``seed: true`` in a run or search config were read as 1
  (`strict_numbers`), the search running in full;
* SRAM sizes far past the estimator's CACTI grid (a depth of 1e15 words, 1e11 banks) were extrapolated;
* ``train --threads 100000`` (or ``threads:`` in a run config) exhausted memory and segfaulted;
* an instance key one letter off a coefficient (``Hstrid: 2``), a coefficient default of ``true`` and
  ``{density: true}`` were ignored or read as 1;
* mapper.yaml's ``algorithm: quantum``, a negative or boolean ``timeout`` and a 30-digit
  ``victory-condition`` were accepted (Timeloop stops on the first and reads the others unsigned).

Cases marked ``guard`` already held; they pin risky paths (links, YAML features, names, option values).
"""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path

import pandas as pd
import pytest
import yaml

from tests.reference_cases import input_files
from tests.reliability.tiny import REPO, Case, assert_case_refused, cli_in, run_config

MODEL_CASE = "ref__gating__resnet18_conv4x__w0.5_i0.5__model__fixmap"
MAPPER_CASE = "ref__compression__alexnet_conv3__exercise_densities__mapper"
ESTIMATE_FILES = ("arch.yaml", "mac.yaml", "regfile_metadata.yaml", "smartbuffer.yaml", "smartbuffer_metadata.yaml")
GLB = "block_size: 4\n            n_banks: 1\n"  # shared_glb's attributes in the model case's arch.yaml


# ------------------------------------------------------------------------------------------- builders
def _copy_case(c: Path) -> list[str]:
    names = []
    for f in input_files(MODEL_CASE):
        shutil.copy(f, c / f.name)
        names.append(f.name)
    return names


def _edit(c: Path, name: str, old: str, new: str) -> None:
    text = (c / name).read_text()
    assert old in text, (name, old)
    (c / name).write_text(text.replace(old, new, 1))


def _spec(name: str, old: str, new: str, command: str = "model") -> Callable[[Path, Path], list[str]]:
    """``command`` on the model case's inputs with ``old`` replaced by ``new`` in ``name``."""
    def build(b: Path, c: Path) -> list[str]:
        files = _copy_case(c)
        _edit(c, name, old, new)
        return [command, *files, "--out", "out"] if command != "check" else ["check", name]

    return build


def _estimate(old: str, new: str) -> Callable[[Path, Path], list[str]]:
    def build(b: Path, c: Path) -> list[str]:
        _copy_case(c)
        _edit(c, "arch.yaml", old, new)
        return ["estimate", *ESTIMATE_FILES, "--out", "out"]

    return build


def _map_edit(old: str, new: str) -> Callable[[Path, Path], list[str]]:
    """``map`` on the mapper reference case's inputs with ``old`` replaced by ``new`` in mapper.yaml."""
    def build(b: Path, c: Path) -> list[str]:
        names = []
        for f in input_files(MAPPER_CASE):
            shutil.copy(f, c / f.name)
            names.append(f.name)
        _edit(c, "mapper.yaml", old, new)
        return ["map", *names, "--out", "out", "--budget-s", "5"]

    return build


def _ex(b: Path, c: Path) -> str:
    shutil.copytree(b / "ex", c / "ex")
    return "ex"


def _sweep(*sets: str) -> Callable[[Path, Path], list[str]]:
    def build(b: Path, c: Path) -> list[str]:
        argv = ["sweep", "eyeriss_like", _ex(b, c), "--out", "out", "--jobs", "1"]
        for s in sets:
            argv += ["--set", s]
        return argv

    return build


def _file(name: str, text: str, *argv: str) -> Callable[[Path, Path], list[str]]:
    def build(b: Path, c: Path) -> list[str]:
        (c / name).write_text(text)
        return list(argv)

    return build


def _report(edit: Callable[[Path], object], *extra: str) -> Callable[[Path, Path], list[str]]:
    def build(b: Path, c: Path) -> list[str]:
        shutil.copytree(b / "sim", c / "sim")
        edit(c / "sim")
        return ["report", "sim", "--out", "rep", *extra]

    return build


def _links(*pairs: tuple[str, str]) -> Callable[[Path], None]:
    def make(c: Path) -> None:
        for link, target in pairs:
            (c / link).symlink_to(target)

    return make


def _then(setup: Callable[[Path], object], argv: list[str]) -> Callable[[Path, Path], list[str]]:
    return lambda b, c: (setup(c), argv)[-1]


def _search(c: Path, **changes) -> list[str]:
    cfg = yaml.safe_load((REPO / "examples" / "lenet5_search.yaml").read_text()) | {"out": "sout"} | changes
    (c / "s.yaml").write_text(yaml.safe_dump(cfg))
    return ["search", "s.yaml"]


RUN_TRAIN = {"model": "lenet5", "data": "digits", "epochs": 1, "measure_latency": False}
HUGE = "9" * 5000  # Python refuses int() of more than 4,300 digits
ERT_READ = "energy: 512.0"
DRAM_ATTRS = "class: DRAM\n          attributes:\n"

CASES: dict[str, Case] = {
    # finding: pydantic's lax float read `true` as 1.0 pJ / 1.0 um^2
    "finding-ert-energy-true": Case(_spec("ERT.yaml", ERT_READ, "energy: true"), ("ERT.yaml", "energy", "boolean")),
    "finding-art-area-false": Case(_spec("ART.yaml", "area: 180.0", "area: false"), ("ART.yaml", "area", "boolean")),
    # finding: counts Timeloop reads as integers were rounded silently by `model`
    "finding-model-banks-fraction": Case(_spec("arch.yaml", GLB, "block_size: 4\n            n_banks: 0.3\n"),
                                         ("arch.yaml", "n_banks", "whole number")),
    "finding-model-depth-fraction": Case(_spec("arch.yaml", "data_storage_depth: 12800",
                                               "data_storage_depth: 12800.5"),
                                         ("arch.yaml", "data_storage_depth", "whole number")),
    "finding-check-banks-fraction": Case(_spec("arch.yaml", GLB, "block_size: 4\n            n_banks: 2.5\n",
                                               "check"), ("arch.yaml", "n_banks", "whole number")),
    # finding: a 5,000-digit integer was Python's int-conversion ValueError (exit 1, "internal error")
    "finding-problem-5000-digit-int": Case(_spec("problem.yaml", "C: 256", f"C: {HUGE}", "check"),
                                           ("problem.yaml:3", "'C'", "5,000 characters")),
    "finding-mapping-5000-digit-int": Case(_spec("mapping.yaml", "split: 0", f"split: {HUGE}"),
                                           ("mapping.yaml", "'split'", "5,000 characters")),
    "finding-run-config-5000-digit-seed": Case(_file("run.yaml", f"name: x\nseed: {HUGE}\n", "run", "run.yaml"),
                                               ("run.yaml", "'seed'", "5,000 characters")),
    # finding: sweep --set took values no attribute can hold and wrote a sweep with exit 0
    "finding-sweep-set-30-digit-depth": Case(_sweep("shared_glb.depth=" + "9" * 30),
                                             ("--set", "data_storage_depth", "2^63 - 1")),
    "finding-sweep-set-nan-bandwidth": Case(_sweep("shared_glb.read_bandwidth=.nan"),
                                            ("--set", "read_bandwidth", "finite")),
    "finding-sweep-set-inf-bandwidth": Case(_sweep("shared_glb.read_bandwidth=.inf"),
                                            ("--set", "read_bandwidth", "finite")),
    # finding: pydantic's lax int read `true` as 1: one epoch trained, one calibration sample, a whole search
    "finding-run-epochs-true": Case(lambda b, c: run_config(c, train={**RUN_TRAIN, "epochs": True}),
                                    ("run.yaml", "epochs", "boolean")),
    "finding-run-calib-samples-true": Case(lambda b, c: run_config(c, extract={"calib_samples": True}),
                                           ("run.yaml", "extract.calib_samples", "boolean")),
    "finding-search-seed-true": Case(lambda b, c: _search(c, seed=True), ("s.yaml", "'seed'", "boolean")),
    # finding: `--threads 100000` sized OpenMP's pool: out of memory, then a segfault (exit 139)
    "finding-train-threads-bomb": Case(lambda b, c: ["train", "--model", "lenet5", "--data", "digits", "--epochs",
                                                     "0", "--out", "m.pt", "--threads", "100000"],
                                       ("'threads'", "less than or equal to 256")),
    "finding-run-threads-bomb": Case(lambda b, c: run_config(c, train={**RUN_TRAIN, "threads": 100000}),
                                     ("run.yaml", "threads", "less than or equal to 256")),
    # finding: mapper.yaml settings Timeloop stops on were accepted and ignored or wrapped (exit 0)
    "finding-mapper-algorithm-unknown": Case(_map_edit("algorithm: random-pruned", "algorithm: quantum"),
                                             ("mapper.yaml", "mapper.algorithm", "'quantum'")),
    "finding-mapper-timeout-negative": Case(_map_edit("timeout: 400", "timeout: -5"),
                                            ("mapper.yaml", "mapper.timeout", "greater than or equal to 0")),
    "finding-mapper-timeout-true": Case(_map_edit("timeout: 400", "timeout: true"),
                                        ("mapper.yaml", "mapper.timeout", "boolean")),
    # finding: a negative mapper seed was refused only when the search began, naming no file
    "finding-mapper-seed-negative": Case(_map_edit("timeout: 400", "timeout: 400\n  seed: -1"),
                                         ("mapper.yaml", "mapper.seed", "greater than or equal to 0")),
    "finding-mapper-victory-30-digits": Case(_map_edit("victory-condition: 400", "victory-condition: " + "9" * 30),
                                             ("mapper.yaml", "mapper.victory-condition", "less than or equal")),
    # finding: a misspelt coefficient in the instance (`Hstrid: 2`) left the stride at its default, exit 0
    "finding-instance-key-misspelt": Case(_spec("problem.yaml", "Hstride: 1", "Hstrid: 2"),
                                          ("problem.yaml", "'Hstrid'", "did you mean 'Hstride'")),
    "finding-coefficient-default-true": Case(_spec("problem.yaml", "- default: 1\n      name: Wstride",
                                                   "- default: true\n      name: Wstride", "check"),
                                             ("problem.yaml", "coefficients[0].default", "boolean")),
    "finding-density-true-in-mapping": Case(_spec("problem.yaml", "Inputs: 0.5",
                                                  "Inputs: {distribution: hypergeometric, density: true}"),
                                            ("problem.yaml", "densities.Inputs.density", "boolean")),
    # guard: spec values and names
    "guard-ert-energy-text": Case(_spec("ERT.yaml", ERT_READ, "energy: lots"), ("ERT.yaml", "energy")),
    "guard-mapping-keeps-and-bypasses": Case(_spec("mapping.yaml", "      - Inputs\n  - target: weights_spad",
                                                   "      - Inputs\n      - Outputs\n  - target: weights_spad"),
                                             ("mapping.yaml", "bypasses Outputs")),
    "guard-arch-level-name-repeats": Case(_spec("arch.yaml", "name: shared_glb", "name: DRAM"),
                                          ("arch.yaml", "DRAM", "repeat")),
    "finding-density-band-width-negative": Case(_spec("problem.yaml", "Inputs: 0.5",
                                                      "Inputs: {distribution: banded, density: 0.5, band_width: -3}"),
                                                ("problem.yaml", "Inputs", "band_width", "-3")),
    "guard-density-model-unknown": Case(_spec("problem.yaml", "Inputs: 0.5", "Inputs: {distribution: wibble, "
                                              "density: 0.5}"), ("problem.yaml", "distribution", "wibble")),
    "guard-sparse-opt-unknown-rank": Case(_spec("sparse_opt.yaml", "[ [P, M, N, Q] ]", "[ [P, M, N, Z] ]"),
                                          ("sparse_opt.yaml", "flattened_rankIDs", "Z")),
    "guard-merge-key-into-problem": Case(_spec("problem.yaml", "  instance:\n",
                                               "  base: &b {C: 2}\n  instance:\n    <<: *b\n", "check"),
                                         ("problem.yaml", "base")),
    "guard-python-tag": Case(_spec("arch.yaml", "technology: 45nm", "technology: !!python/object/apply:os.system "
                                   "['id']", "check"), ("arch.yaml", "python/object/apply")),
    # guard: files and links
    "guard-symlink-loop": Case(_then(_links(("a.yaml", "b.yaml"), ("b.yaml", "a.yaml")), ["check", "a.yaml"]),
                               ("a.yaml", "loop")),
    "guard-link-to-folder": Case(_then(lambda c: ((c / "d").mkdir(), (c / "l.yaml").symlink_to("d")),
                                       ["check", "l.yaml"]), ("l.yaml", "directory")),
    "guard-out-dangling-link": Case(lambda b, c: (_copy_case(c), (c / "o").symlink_to(c / "nowhere"),
                                                  ["model", *[f.name for f in input_files(MODEL_CASE)], "--out",
                                                   "o"])[-1], ("'--out'", "symbolic link")),
    "guard-file-name-too-long": Case(lambda b, c: ["check", "a" * 5000 + ".yaml"], ("a" * 40, "too long")),
    "guard-top-level-list": Case(_file("p.yaml", "- 1\n- 2\n", "check", "p.yaml"), ("p.yaml", "mapping")),
    # finding: sizes far past the estimator's CACTI grid (256 B - 8 MiB, 1 - 32 banks) were extrapolated, exit 0
    "finding-estimate-depth-1e15": Case(_estimate("data_storage_depth: 12800", f"data_storage_depth: {10**15}"),
                                        ("arch.yaml", "depth", "beyond")),
    "finding-estimate-width-1e12": Case(_estimate("data_storage_width: 64", f"data_storage_width: {10**12}"),
                                        ("arch.yaml", "width", "beyond")),
    "finding-estimate-banks-1e11": Case(_estimate(GLB, f"block_size: 4\n            n_banks: {10**11}\n"),
                                        ("arch.yaml", "n_banks", "beyond")),
    # guard: estimator inputs
    "guard-estimate-technology-3nm": Case(_estimate("technology: 45nm", "technology: 3nm"),
                                          ("arch.yaml", "technology", "'3nm'")),
    "guard-estimate-technology-500nm": Case(_estimate("technology: 45nm", "technology: 500nm"),
                                            ("arch.yaml", "technology", "'500nm'")),
    "guard-estimate-banks-0.3": Case(_estimate(GLB, "block_size: 4\n            n_banks: 0.3\n"),
                                     ("arch.yaml", "n_banks", "whole number")),
    "guard-estimate-dram-type-number": Case(_estimate(DRAM_ATTRS, DRAM_ATTRS + "            type: 4\n"),
                                            ("arch.yaml", "attributes.type", "'4'", "DDR4-2666")),
    "guard-estimate-dram-type-list": Case(_estimate(DRAM_ATTRS, DRAM_ATTRS + "            type: [DDR4, HBM2]\n"),
                                          ("arch.yaml", "attributes.type", "not in the table")),
    # guard: sweep and report options
    "guard-sweep-set-empty-component": Case(_sweep(".depth=1"), ("--set", "no component")),
    "guard-sweep-set-newline-value": Case(_sweep("shared_glb.depth=1\n2"), ("--set", "data_storage_depth")),
    "guard-report-baseline-empty": Case(_report(lambda s: None, "--baseline", ""), ("--baseline", "''")),
    "guard-report-format-only-commas": Case(_report(lambda s: None, "--format", ",,"), ("--format", "none given")),
    "guard-report-results-binary": Case(_report(lambda s: (s / "results.csv").write_bytes(b"\x00\xff" * 100)),
                                        ("results.csv", "not a readable CSV")),
}


@pytest.mark.parametrize("name", list(CASES))
def test_round3_bad_input_is_refused_cleanly(name: str, base: Path, tmp_path: Path) -> None:
    assert_case_refused(CASES[name], base, tmp_path)


# ------------------------------------------------------------------------------------------- legal twins
def test_numeric_technology_is_priced_as_that_node(tmp_path: Path) -> None:
    """finding: ``technology: 45`` (a YAML number, as some Accelergy inputs write it) was an internal error
    (TypeError in the CACTI lookup); it prices as 45 nm, within the rounding of the recorded 45nm figures."""
    ert = {}
    for tech in ("45nm", "45"):
        case = tmp_path / tech
        case.mkdir()
        _copy_case(case)
        _edit(case, "arch.yaml", "technology: 45nm", f"technology: {tech}")
        proc = cli_in(["estimate", *ESTIMATE_FILES, "--out", "out"], case)
        assert proc.returncode == 0, proc.stderr[-3000:]
        assert "Traceback" not in proc.stderr
        tables = yaml.safe_load((case / "out" / "ERT.yaml").read_text())["ERT"]["tables"]
        ert[tech] = {t["name"]: max(a["energy"] for a in t["actions"]) for t in tables}
    assert ert["45"].keys() == ert["45nm"].keys()
    for name, energy in ert["45nm"].items():
        assert ert["45"][name] == pytest.approx(energy, rel=1e-3, abs=1e-9), name


def test_report_prints_markup_in_names_as_text(base: Path, tmp_path: Path) -> None:
    """finding: an architecture named ``[bold]x[/bold]`` in an edited results.csv was printed as ``x``:
    the report table read user strings as Rich markup (issue 15, item 8)."""
    shutil.copytree(base / "sim", tmp_path / "sim")
    path = tmp_path / "sim" / "results.csv"
    df = pd.read_csv(path, dtype=str, keep_default_na=False)
    df.loc[df["arch"] == "eyeriss_v2", "arch"] = "[bold]x[/bold]"
    path.write_text(df.to_csv(index=False))
    proc = cli_in(["report", "sim", "--out", "rep", "--format", "png"], tmp_path)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "[bold]x[/bold]" in proc.stdout, proc.stdout[-3000:]


def test_sweep_values_inside_the_bounds_still_pass_the_check() -> None:
    """guard: the new bound refuses only non-finite or past-64-bit values; ordinary ones pass."""
    from sparse_hw.archsweep import _check_value

    _check_value("shared_glb.depth", "data_storage_depth", 16384, str(2**40))
    _check_value("shared_glb.read_bandwidth", "read_bandwidth", 16, "0.5")
    _check_value("shared_glb.technology", "technology", "45nm", "22nm")
