"""Hostile and careless inputs, fourth pass (issue 15: "bad input that is accepted, blows up or mis-exits").

Each case runs a real ``sparse-hw`` process in its own folder (`tiny.assert_case_refused`): exit 2, no
traceback or "internal error", the file and the key named, a fix, and the folder unchanged byte for byte.

Cases marked ``finding`` ran through before this pass (the fix is in the module that reads the input):

* a DRAM with ``type: ''`` was priced as LPDDR4 in silence (`estimate.primitives._dram_type`); Accelergy's
  CACTI plug-in defaults only a *missing* type to LPDDR4, which is now said on stderr (legal twin below);
* a ``nan`` typed into a number cell of results.csv or breakdown.csv was read as a blank and shown as "-"
  (`report.inputs.read_table` now treats only an empty cell as missing);
* a stride or dilation of 0 (or less) was modeled with exit 0 (`spec.problem.Problem`: every coefficient
  of the built-in cnn-layer shape is a stride or dilation, at least 1);
* ``sweep`` started a 10,000-point grid (`archsweep.MAX_POINTS` is now 4,096, ``--max-points`` raises it);
* with ``HOME=""`` report created ``/.cache/matplotlib`` and ``/.config/matplotlib`` (`mpl_home`).

More found by a hostile pass over the input classes the corpus had few cases for:

* ERT/ART tables: a blank component or action name was dropped in silence (`spec.tables`);
* mappings and constraints: ``split: true`` (read as 1), a negative constraint split or remainders, a
  utilization of 1.5 or NaN, a negative overbooking share (`spec.mapping`, `spec.constraints`);
* sparse optimizations: word bits of -3 or ``true``, a negative compression rate (`spec.sparse`);
* architectures: a bandwidth of 0 and a range counting down (``X[13..0]``) were internal errors (exit 1),
  a min_utilization of 1.5 and a boolean attribute ``yesplease`` were accepted, and ``'false'`` (quoted)
  was read as true (`spec.arch`); ``sweep --set`` of a boolean attribute took ``maybe`` (`archsweep`);
* a path where a built-in architecture name goes (``--arch /abs/path``) was that folder, the path the
  architecture's name in results.csv (`resources.architecture_dir`);
* ``report --extract`` of a folder without weight_hist.csv was a note, and layers.csv's ``nan`` in an
  optional density was read as absent (`table_checks.read_csv_table`).
"""

from __future__ import annotations

import csv
import os
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
import yaml

from tests.reference_cases import input_files
from tests.reliability.test_hostile_round3 import (
    DRAM_ATTRS,
    ESTIMATE_FILES,
    GLB,
    MAPPER_CASE,
    _copy_case,
    _edit,
    _estimate,
    _spec,
)
from tests.reliability.tiny import REPO, Case, assert_case_refused, cli_in, snapshot


# ------------------------------------------------------------------------------------------- builders
def _cell(name: str, column: str, value: str, row: int = 0) -> Callable[[Path], None]:
    """Set one cell of the simulate folder's CSV ``name`` (as a user would in a spreadsheet)."""
    def edit(sim: Path) -> None:
        with open(sim / name, newline="") as f:
            rows = list(csv.reader(f))
        rows[row + 1][rows[0].index(column)] = value
        with open(sim / name, "w", newline="") as f:
            csv.writer(f, lineterminator="\n").writerows(rows)

    return edit


def _report(edit: Callable[[Path], None]) -> Callable[[Path, Path], list[str]]:
    def build(b: Path, c: Path) -> list[str]:
        shutil.copytree(b / "sim", c / "sim")
        edit(c / "sim")
        return ["report", "sim", "--out", "rep"]

    return build


def _sweep(*extra: str, arch: str = "eyeriss_like") -> Callable[[Path, Path], list[str]]:
    def build(b: Path, c: Path) -> list[str]:
        shutil.copytree(b / "ex", c / "ex")
        return ["sweep", arch, "ex", "--out", "out", "--jobs", "1", *extra]

    return build


def _constraint(old: str, new: str) -> Callable[[Path, Path], list[str]]:
    """``map`` on the mapper reference case with ``old`` replaced by ``new`` in its architecture constraints."""
    def build(b: Path, c: Path) -> list[str]:
        names = [Path(shutil.copy(f, c / f.name)).name for f in input_files(MAPPER_CASE)]
        _edit(c, "eyeriss_like_arch_constraints.yaml", old, new)
        return ["map", *names, "--out", "out", "--budget-s", "5"]

    return build


def _simulate_layers(column: str, value: str, row: int = 0) -> Callable[[Path, Path], list[str]]:
    """``simulate`` of the extract folder with one cell of its layers.csv edited."""
    def build(b: Path, c: Path) -> list[str]:
        shutil.copytree(b / "ex", c / "ex")
        _cell("layers.csv", column, value, row)(c / "ex")
        return ["simulate", "ex", "--arch", "eyeriss_like", "--out", "out", "--jobs", "1"]

    return build


def _values(n: int, start: int = 1) -> str:
    return ",".join(str(v) for v in range(start, start + n))


CASES: dict[str, Case] = {
    # finding: an empty DRAM type was Accelergy's default LPDDR4, with no word said (the plug-in itself
    # prices a type it does not know at 0 pJ: `type: ''` is never LPDDR4)
    "finding-dram-type-empty": Case(_estimate(DRAM_ATTRS, DRAM_ATTRS + "            type: ''\n"),
                                    ("arch.yaml", "attributes.type", "DRAM type is ''", "LPDDR4, LPDDR")),
    "finding-dram-type-blank": Case(_estimate(DRAM_ATTRS, DRAM_ATTRS + "            type: '   '\n"),
                                    ("arch.yaml", "attributes.type", "not a DRAM type", "HBM2")),
    "finding-dram-type-must-specify": Case(_estimate(DRAM_ATTRS, DRAM_ATTRS + "            type: must_specify\n"),
                                           ("arch.yaml", "attributes.type", "'must_specify'", "LPDDR4")),
    # finding: `nan` in a number cell was a blank, shown as "-" in the report's table (exit 0)
    "finding-report-energy-nan": Case(_report(_cell("results.csv", "energy_pj", "nan")),
                                      ("results.csv", "'energy_pj'", "'nan'", "line(s) [2]")),
    "finding-report-cycles-NaN": Case(_report(_cell("results.csv", "cycles", "NaN", row=3)),
                                      ("results.csv", "'cycles'", "'NaN'", "line(s) [5]")),
    "finding-report-utilization-null": Case(_report(_cell("results.csv", "utilization", "null")),
                                            ("results.csv", "'utilization'", "'null'")),
    "finding-report-breakdown-value-nan": Case(_report(_cell("breakdown.csv", "value", "nan", row=2)),
                                               ("breakdown.csv", "'value'", "'nan'")),
    # finding: `nan` in layers.csv's optional padded density was read as absent (exit 0); `NA` as a
    # dimension was refused as "blank"
    "finding-layers-padded-density-nan": Case(_simulate_layers("input_density_padded", "nan"),
                                              ("ex/layers.csv", "'input_density_padded'", "is 'nan'", "line 2")),
    "finding-layers-dimension-NA": Case(_simulate_layers("C", "NA", row=1),
                                        ("ex/layers.csv", "'C'", "C is 'NA'", "line 3")),
    # finding: strides and dilations of 0 or less were modeled with exit 0 (Timeloop's are at least 1)
    "finding-problem-hstride-zero": Case(_spec("problem.yaml", "Hstride: 1", "Hstride: 0"),
                                         ("problem.yaml:10", "problem.instance.Hstride", "Hstride=0",
                                          "at least 1")),
    "finding-problem-wstride-zero-check": Case(_spec("problem.yaml", "Wstride: 1", "Wstride: 0", "check"),
                                               ("problem.yaml", "problem.instance.Wstride", "Wstride=0")),
    "finding-problem-wdilation-negative": Case(_spec("problem.yaml", "Wdilation: 1", "Wdilation: -2", "check"),
                                               ("problem.yaml", "problem.instance.Wdilation", "Wdilation=-2")),
    "finding-problem-hdilation-default-zero": Case(
        lambda b, c: (_copy_case(c), _edit(c, "problem.yaml", "    Hdilation: 1\n", ""),
                      _edit(c, "problem.yaml", "- default: 1\n      name: Hdilation",
                            "- default: 0\n      name: Hdilation"), ["check", "problem.yaml"])[-1],
        ("problem.yaml", "problem.shape.coefficients[3].default", "Hdilation=0")),
    # finding: a 4,160-point grid (65 x 64 values) started; the refusal names each --set and its count
    "finding-sweep-grid-4160": Case(_sweep("--set", "shared_glb.depth=" + _values(65), "--set",
                                           "DRAM.width=" + _values(64)),
                                    ("--set", "4,160 points", "shared_glb.depth (65 values)",
                                     "DRAM.width (64 values)", "4,096", "--max-points 4160")),
    "finding-sweep-grid-over-max-points": Case(_sweep("--set", "shared_glb.depth=1024,2048,4096",
                                                      "--max-points", "2"),
                                               ("--set", "3 points", "more than 2")),
    "guard-sweep-max-points-zero": Case(_sweep("--set", "shared_glb.depth=1024", "--max-points", "0"),
                                        ("--max-points", "greater than or equal to 1")),
    # --- more hostile inputs found in this pass ---
    # finding: a blank ERT/ART name matched nothing: the entry was dropped (its component estimated, its
    # action priced as absent), exit 0
    "finding-ert-action-name-blank": Case(_spec("ERT.yaml", "- name: read\n            arguments: null\n"
                                                "            energy: 512.0", "- name: ''\n            arguments: "
                                                "null\n            energy: 512.0"),
                                          ("ERT.yaml:6", "ERT.tables[0].actions[0].name", "names no")),
    "finding-ert-component-name-blank": Case(_spec("ERT.yaml", "- name: eyeriss_168.DRAM", "- name: '  '"),
                                             ("ERT.yaml:4", "ERT.tables[0].name", "names no component")),
    "finding-art-component-name-blank": Case(_spec("ART.yaml", "- name: eyeriss_168.DRAM", "- name: ''"),
                                             ("ART.yaml:4", "ART.tables[0].name", "names no component")),
    # finding: `split: true` in a mapping was read as 1 (pydantic's lax int), exit 2 naming no file
    "finding-mapping-split-true": Case(_spec("mapping.yaml", "split: 0", "split: true"),
                                       ("mapping.yaml", "mapping[9].split", "boolean")),
    # finding: metadata/payload word bits of -3 or `true` were modeled, exit 0
    "finding-sparse-opt-metadata-bits-negative": Case(
        _spec("sparse_opt.yaml", "- format: RLE\n                flattened-rankIDs: [ [R, S, P, C, M, N, Q] ]",
              "- format: RLE\n                metadata-word-bits: -3\n                flattened-rankIDs: "
              "[ [R, S, P, C, M, N, Q] ]"),
        ("sparse_opt.yaml:11", "ranks[1].metadata_word_bits", "-3 is negative")),
    "finding-sparse-opt-payload-bits-true": Case(
        _spec("sparse_opt.yaml", "- format: RLE\n                flattened-rankIDs: [ [R, S, P, C, M, N, Q] ]",
              "- format: RLE\n                payload-word-bits: true\n                flattened-rankIDs: "
              "[ [R, S, P, C, M, N, Q] ]"),
        ("sparse_opt.yaml", "ranks[1].payload_word_bits", "boolean")),
    "finding-sparse-opt-compression-rate-negative": Case(
        _spec("sparse_opt.yaml", "          - name: Outputs\n            ranks:",
              "          - name: Outputs\n            compression_rate: -2\n            ranks:"),
        ("sparse_opt.yaml:11", "representation-format[1].compression_rate", "-2 is not a finite number")),
    # finding: constraint values Timeloop reads unsigned or as a fraction were accepted, exit 0
    "finding-constraint-split-negative": Case(_constraint("split: 4", "split: -4"),
                                              ("eyeriss_like_arch_constraints.yaml", "targets[5].split", "-4")),
    "finding-constraint-split-true": Case(_constraint("split: 4", "split: true"),
                                          ("eyeriss_like_arch_constraints.yaml", "targets[5].split", "true")),
    "finding-constraint-utilization-1.5": Case(
        _constraint("- target: DummyBuffer\n    type: spatial", "- target: DummyBuffer\n    type: utilization\n"
                    "    min_utilization: 1.5\n  - target: DummyBuffer\n    type: spatial"),
        ("eyeriss_like_arch_constraints.yaml", "min_utilization", "fraction in [0, 1]")),
    "finding-constraint-utilization-nan": Case(
        _constraint("- target: DummyBuffer\n    type: spatial", "- target: DummyBuffer\n    type: utilization\n"
                    "    min_utilization: .nan\n  - target: DummyBuffer\n    type: spatial"),
        ("eyeriss_like_arch_constraints.yaml", "min_utilization", "nan")),
    "finding-constraint-overbooked-negative": Case(
        _constraint("- target: DummyBuffer\n    type: spatial", "- target: shared_glb\n    type: "
                    "max_overbooked_proportion\n    max_overbooked_proportion: -1\n  - target: DummyBuffer\n"
                    "    type: spatial"),
        ("eyeriss_like_arch_constraints.yaml", "max_overbooked_proportion", "finite number >= 0")),
    "finding-constraint-remainders-negative": Case(
        _constraint("- target: DummyBuffer\n    type: spatial", "- target: DummyBuffer\n    type: temporal\n"
                    "    remainders: -2\n  - target: DummyBuffer\n    type: spatial"),
        ("eyeriss_like_arch_constraints.yaml", "remainders", "-2")),
    # finding: a bandwidth of 0 ran the throttle to infinite cycles: internal error, exit 1
    "finding-arch-read-bandwidth-zero": Case(_spec("arch.yaml", "read_bandwidth: 16", "read_bandwidth: 0"),
                                             ("arch.yaml", "local[1].attributes.read_bandwidth", "is 0")),
    # finding: a range counting down (`DummyBuffer[13..0]`) had no instances: ZeroDivisionError, exit 1
    "finding-arch-range-counts-down": Case(_spec("arch.yaml", "- name: DummyBuffer[0..13]",
                                                 "- name: DummyBuffer[13..0]", "check"),
                                           ("arch.yaml", "local[2].name", "'DummyBuffer[13..0]' is empty")),
    # finding: an attribute min_utilization of 1.5 (a fraction of the capacity) was modeled, exit 0
    "finding-arch-min-utilization-1.5": Case(_spec("arch.yaml", GLB, GLB + "            min_utilization: 1.5\n"),
                                             ("arch.yaml", "attributes.min_utilization", "more than 1")),
    # finding: a boolean attribute was read with Python's bool(): 'yesplease' was true, exit 0
    "finding-arch-flag-word": Case(_spec("arch.yaml", "decompression_supported: true",
                                         "decompression_supported: yesplease"),
                                   ("arch.yaml", "attributes.decompression_supported", "not true or false")),
    "finding-sweep-set-flag-maybe": Case(_sweep("--set", "shared_glb.decompression_supported=true,maybe",
                                                arch="eyeriss_like_compressed"),
                                         ("--set", "decompression_supported", "'maybe' is neither")),
    # finding: a path where a built-in architecture name goes was that folder (`ARCH_DIR / '/abs'` is /abs):
    # simulate ran with exit 0 and wrote the absolute path into results.csv as the architecture's name
    "finding-simulate-arch-absolute-path": Case(lambda b, c: (shutil.copytree(b / "ex", c / "ex"), [
        "simulate", "ex", "--arch", str(REPO / "arch" / "eyeriss_like"), "--out", "out", "--jobs", "1"])[-1],
                                                ("arch", "is a path, not the name",
                                                 "eyeriss_like_gating")),
    "finding-arch-show-relative-path": Case(lambda b, c: ["arch", "show", "../arch/eyeriss_like"],
                                            ("'../arch/eyeriss_like': it is a path", "use one of")),
    # finding: `report --extract` of a folder with no weight_hist.csv (the simulate folder) was only a note
    "finding-report-extract-not-an-extract": Case(lambda b, c: (_report(lambda s: None)(b, c), ["report", "sim",
                                                  "--out", "rep", "--extract", "sim"])[-1],
                                                  ("sim", "--extract", "no weight_hist.csv")),
}


@pytest.mark.parametrize("name", list(CASES))
def test_round4_bad_input_is_refused_cleanly(name: str, base: Path, tmp_path: Path) -> None:
    assert_case_refused(CASES[name], base, tmp_path)


# ------------------------------------------------------------------------------------------- legal twins
def _dram_estimate(case: Path, attrs: str) -> tuple[subprocess.CompletedProcess, float | None]:
    """`estimate` on the model case with the DRAM's attributes block replaced; (process, DRAM read pJ)."""
    case.mkdir()
    _copy_case(case)
    _edit(case, "arch.yaml", DRAM_ATTRS + "            width: 64\n", DRAM_ATTRS + attrs)
    proc = cli_in(["estimate", *ESTIMATE_FILES, "--out", "out"], case)
    if proc.returncode != 0:
        return proc, None
    tables = yaml.safe_load((case / "out" / "ERT.yaml").read_text())["ERT"]["tables"]
    dram = next(t for t in tables if t["name"].endswith(".DRAM"))
    return proc, next(a["energy"] for a in dram["actions"] if a["name"] == "read")


def test_dram_without_type_is_lpddr4_said_aloud(tmp_path: Path) -> None:
    """A DRAM without ``type`` is Accelergy's default LPDDR4 (accelergy-cacti-plug-in's DRAM_attr_supported
    sets it), priced as an explicit LPDDR4 is, with a warning that names the assumed type; the explicit
    one says nothing. Width 32: no recorded Accelergy output has it, so the estimator prices it."""
    missing, read_missing = _dram_estimate(tmp_path / "missing", "            width: 32\n")
    given, read_given = _dram_estimate(tmp_path / "given", "            type: LPDDR4\n            width: 32\n")
    assert missing.returncode == 0 and given.returncode == 0, (missing.stderr[-2000:], given.stderr[-2000:])
    assert read_missing == read_given == 8 * 32  # 8 pJ/bit (the plug-in's LPDDR4 figure) x 32 bits
    said = " ".join(missing.stderr.split())
    assert "gives no DRAM type; priced as LPDDR4, Accelergy's default" in said, said[-2000:]
    assert "no DRAM type" not in given.stderr, given.stderr[-2000:]


def test_quoted_false_flag_is_false(tmp_path: Path) -> None:
    """finding: ``decompression_supported: 'false'`` (quoted) was true (Python's ``bool('false')``); yaml-cpp,
    which Timeloop reads it with, takes the word: the model now reads it as the unquoted false, to the byte
    of the error, and ``'Yes'`` as true (the reference mapping then models, exit 0)."""
    runs = {}
    for name, value in (("quoted", "'false'"), ("plain", "false"), ("yes", "'Yes'")):
        case = tmp_path / name
        case.mkdir()
        files = _copy_case(case)
        _edit(case, "arch.yaml", "decompression_supported: true", f"decompression_supported: {value}")
        runs[name] = cli_in(["model", *files, "--out", "out"], case)
    assert runs["plain"].returncode == 2 and "supports decompression" in runs["plain"].stderr
    assert (runs["quoted"].returncode, runs["quoted"].stderr) == (runs["plain"].returncode, runs["plain"].stderr)
    assert runs["yes"].returncode == 0, runs["yes"].stderr[-2000:]


def test_sweep_max_points_lets_a_larger_grid_through() -> None:
    """``--max-points`` is the documented way past the bound: the same 4,160-point grid validates
    (in-process, nothing runs) when the caller allows it, and is refused by default."""
    from sparse_hw.archsweep import MAX_POINTS, arch_files, resolve_axes
    from sparse_hw.errors import ConfigError

    arch_yaml = next(f for f in arch_files("eyeriss_like") if f.name == "arch.yaml")
    sets = ["shared_glb.depth=" + _values(65), "DRAM.width=" + _values(64)]
    with pytest.raises(ConfigError, match="4,160 points"):
        resolve_axes(arch_yaml, sets)
    axes = resolve_axes(arch_yaml, sets, max_points=4_160)
    assert [len(a.values) for a in axes] == [65, 64]
    assert MAX_POINTS == 4_096


def test_report_with_empty_home_writes_only_its_out(base: Path, tmp_path: Path) -> None:
    """finding: with ``HOME=""`` matplotlib put its config and font cache in /.config and /.cache (created,
    as root) or warned on stderr. The report now points MPLCONFIGDIR at a private temporary folder that
    is gone at exit: exit 0, no matplotlib warning, nothing new but --out, an empty TMPDIR."""
    case, tmp = tmp_path / "case", tmp_path / "tmp"
    case.mkdir()
    tmp.mkdir()
    shutil.copytree(base / "sim", case / "sim")
    before = snapshot(case)
    root_dirs = {p: p.exists() for p in (Path("/.cache/matplotlib"), Path("/.config/matplotlib"))}
    env = {k: v for k, v in os.environ.items() if k not in ("MPLCONFIGDIR", "XDG_CONFIG_HOME", "XDG_CACHE_HOME")}
    env |= {"HOME": "", "TMPDIR": str(tmp), "PYTHONPATH": str(REPO), "OMP_NUM_THREADS": "1", "COLUMNS": "200"}
    proc = subprocess.run([sys.executable, "-m", "sparse_hw", "report", "sim", "--out", "rep", "--format", "png"],
                          check=False, capture_output=True, text=True, timeout=300, cwd=case, env=env,
                          stdin=subprocess.DEVNULL)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "matplotlib" not in proc.stderr.lower() and "Traceback" not in proc.stderr, proc.stderr[-3000:]
    after = snapshot(case)
    assert {k: v for k, v in after.items() if not k.startswith("rep")} == before
    assert (case / "rep" / "summary.csv").is_file()
    assert list(tmp.iterdir()) == []  # the private folder was removed at exit
    for path, existed in root_dirs.items():
        assert existed or not path.exists(), f"{path} was created"


def test_private_config_only_when_home_is_unusable(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A set MPLCONFIGDIR and a usable HOME are left alone; HOME="" gets a fresh 0700 folder."""
    from sparse_hw import mpl_home

    for var in ("MPLCONFIGDIR", "XDG_CONFIG_HOME", "XDG_CACHE_HOME"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("HOME", str(tmp_path))
    assert mpl_home.private_config_if_home_unusable() is None
    monkeypatch.setenv("HOME", "")
    monkeypatch.setenv("MPLCONFIGDIR", str(tmp_path / "mine"))
    assert mpl_home.private_config_if_home_unusable() is None
    monkeypatch.delenv("MPLCONFIGDIR")
    monkeypatch.setattr(mpl_home.tempfile, "tempdir", str(tmp_path))
    folder = mpl_home.private_config_if_home_unusable()
    assert folder is not None and Path(folder).parent == tmp_path and os.environ["MPLCONFIGDIR"] == folder
    assert Path(folder).stat().st_mode & 0o777 == 0o700
    monkeypatch.setenv("HOME", str(tmp_path / "no-such-home"))
    monkeypatch.delenv("MPLCONFIGDIR")
    assert mpl_home.private_config_if_home_unusable() is not None
