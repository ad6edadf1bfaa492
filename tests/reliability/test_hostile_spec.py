"""Bad and hostile inputs to the spec-level commands: check, model, map, arch show, estimate (issue 15).

Each case mutates a copy of a recorded reference run's inputs (../shared/reference/timeloop) and runs the
command; it must exit 2 with one error that names the file and the key at fault and gives a fix, print no
traceback, and leave the case folder (inputs and the ``--out`` target) unchanged. The few legal ones must
exit 0. Classes: the file itself (empty, binary, not UTF-8, a folder, missing, a FIFO, a device, a symlink
loop, duplicate keys), wrong types, missing keys, bad numbers (negative, zero, NaN, inf, huge, fractional),
densities, unknown names, contradictions (factors, keep and bypass), map, ``arch show`` names, estimate.

Commands run in this process (typer's CliRunner returns the real exit code and output); only the
cases that could block (a FIFO, a device) run in a child process with a timeout.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from sparse_hw.cli import app
from tests.reference_cases import input_files
from tests.reliability.hostile_cli import run_cli


def snapshot(root: Path) -> dict[str, bytes | str | None]:
    """Every entry under ``root``: regular files with their bytes, folders as None, others by kind (a FIFO
    is never opened: that would block)."""
    out: dict[str, bytes | str | None] = {}
    for p in sorted(root.rglob("*")):
        rel = p.relative_to(root).as_posix()
        out[rel] = None if p.is_dir() else p.read_bytes() if p.is_file() else "special"
    return out


MODEL_CASE = "ref__gating__resnet18_conv4x__w0.5_i0.5__model__fixmap"
MAPPER_CASE = "ref__compression__alexnet_conv3__exercise_densities__mapper"


@dataclass(frozen=True)
class Case:
    command: str  # check | model | map | arch | estimate
    edit: Callable[[Path], object] | None  # mutates the copied inputs in the folder; may return extra argv
    names: str = ""  # the file (or argument) the error must name
    key: str = ""  # the key (or value) the error must name
    ok: bool = False  # a legal input: exit 0
    child: bool = False  # run in a child process (it could block this one)


def sub(name: str, old: str, new: str, count: int = 1, encoding: str = "utf-8") -> Callable[[Path], None]:
    """Replace ``old`` by ``new`` in the copied file ``name`` (the reference must contain ``old``)."""
    def edit(folder: Path) -> None:
        path = folder / name
        text = path.read_text()
        assert old in text, (name, old)
        path.write_text(text.replace(old, new, count), encoding=encoding)

    return edit


def write(name: str, data: str | bytes) -> Callable[[Path], None]:
    def edit(folder: Path) -> None:
        path = folder / name
        path.unlink()
        path.write_bytes(data) if isinstance(data, bytes) else path.write_text(data)

    return edit


def replace_with(name: str, make: Callable[[Path], None]) -> Callable[[Path], None]:
    def edit(folder: Path) -> None:
        (folder / name).unlink()
        make(folder / name)

    return edit


def all_bypass(folder: Path) -> None:
    path = folder / "mapping.yaml"
    entries = yaml.safe_load(path.read_text())["mapping"]
    for e in entries:
        if e.get("type") == "datatype":
            e["keep"], e["bypass"] = [], ["Weights", "Inputs", "Outputs"]
    path.write_text(yaml.safe_dump({"mapping": entries}, sort_keys=False))


P, M, A, S, E = "problem.yaml", "mapping.yaml", "arch.yaml", "sparse_opt.yaml", "ERT.yaml"
INSTANCE = "    C: 256\n"
CASES: dict[str, Case] = {
    # --- the file itself
    "empty-problem": Case("check", write(P, ""), P, "problem"),
    "comment-only-problem": Case("model", write(P, "# nothing here\n"), P, "problem"),
    "binary-problem": Case("check", write(P, bytes(range(256)) * 4), P, ""),
    "non-utf8-problem": Case("model", sub(P, "name: CNN-Layer", "name: CNN-Layer # caf\xe9", encoding="latin-1"),
                             P, "UTF-8"),
    "latin1-bytes": Case("check", write(P, "problem:\n  instance: {C: 1}\n  # \xe9\n".encode("latin-1")), P, "UTF-8"),
    "folder-as-problem": Case("model", replace_with(P, lambda p: p.mkdir()), P, "directory"),
    "missing-problem": Case("check", lambda f: (f / P).unlink(), P, "not found"),
    "fifo-as-problem": Case("check", replace_with(P, lambda p: os.mkfifo(p)), P, "regular file", child=True),
    "dev-zero-as-input": Case("model", lambda f: ["/dev/zero"], "/dev/zero", "regular file", child=True),
    "yaml-syntax-error": Case("map", sub(P, "    C: 256\n", "    C: [256\n"), P, ""),
    "tab-indentation": Case("check", sub(P, "    C: 256\n", "\tC: 256\n"), P, ""),
    "top-level-list": Case("check", write(P, "- problem\n- 1\n"), P, ""),
    "duplicate-key": Case("model", sub(P, INSTANCE, INSTANCE + "    C: 64\n"), P, "duplicate key 'C'"),
    # --- wrong types
    "dimension-is-text": Case("check", sub(P, "C: 256", "C: many"), P, "C"),
    "dimension-is-list": Case("model", sub(P, "C: 256", "C: [1, 2]"), P, "C"),
    "density-is-text": Case("model", sub(P, "Inputs: 0.5", "Inputs: high"), P, "Inputs"),
    "attribute-is-text": Case("model", sub(A, "width: 64\n            block_size: 4",
                                             "width: sixty-four\n            block_size: 4"), A, "width"),
    "factors-is-number": Case("model", sub(M, "factors: C1 M8 R1 S1 N1 P1 Q1", "factors: 42"), M, "factors"),
    "architecture-is-text": Case("check", write(A, "architecture: eyeriss\n"), A, "architecture"),
    "problem-is-null": Case("model", write(P, "problem:\n"), P, "problem"),
    "mapping-is-mapping": Case("model", write(M, "mapping: {target: DRAM}\n"), M, "mapping"),
    # --- missing keys
    "no-shape": Case("model", sub(P, "  shape:\n", "  shapeless:\n"), P, "shape"),
    "no-instance": Case("model", sub(P, "  instance:\n", "  instances:\n"), P, "instance"),
    "mapping-without-target": Case("model", sub(M, "  - target: psum_spad\n    type: temporal",
                                                 "  - type: temporal"), M, "target"),
    "component-without-class": Case("model", sub(A, "          class: DRAM\n", ""), A, "local[0].class"),
    "no-data-spaces": Case("check", sub(P, "    data-spaces:\n", "    data-space:\n"), P, "data-space"),
    # --- bad numbers
    "negative-dimension": Case("model", sub(P, "C: 256", "C: -256"), P, "C"),
    "zero-dimension": Case("model", sub(P, "C: 256", "C: 0"), P, "C"),
    "huge-dimension": Case("model", sub(P, "C: 256", "C: 100000000000000000000000000000"), P, "C"),
    "nan-dimension": Case("check", sub(P, "C: 256", "C: .nan"), P, "C"),
    "inf-dimension": Case("model", sub(P, "C: 256", "C: .inf"), P, "C"),
    "nan-string-dimension": Case("model", sub(P, "C: 256", "C: 'NaN'"), P, "C"),
    "fractional-dimension": Case("model", sub(P, "C: 256", "C: 2.5"), P, "C"),
    "negative-width": Case("model", sub(A, "width: 64\n            block_size: 4",
                                          "width: -64\n            block_size: 4"), A, "width"),
    "zero-capacity-buffer": Case("model", sub(A, "data_storage_depth: 12800", "data_storage_depth: 0"),
                                 A, "shared_glb"),
    "zero-mesh": Case("check", sub(A, "meshX: 14\n\n      subtree", "meshX: 0\n\n      subtree"), A, "meshX"),
    "nan-energy": Case("model", sub(E, "energy: ", "energy: .nan #", 1), E, "energy"),
    "negative-energy": Case("model", sub(E, "energy: ", "energy: -5 #", 1), E, "energy"),
    "negative-area": Case("model", sub("ART.yaml", "area: ", "area: -1 #", 1), "ART.yaml", "area"),
    "inf-stride": Case("model", sub(P, "Hstride: 1", "Hstride: .inf"), P, "Hstride"),
    "huge-factor": Case("model", sub(M, "factors: C1 M8 R1 S1 N1 P1 Q1", "factors: C1 M8000000000000 R1 S1 N1 P1 Q1"),
                        M, "M"),
    "zero-factor": Case("model", sub(M, "factors: C1 M8 R1 S1 N1 P1 Q1", "factors: C0 M8 R1 S1 N1 P1 Q1"), M, "C"),
    # --- densities
    "density-above-one": Case("model", sub(P, "Inputs: 0.5", "Inputs: 1.7"), P, "Inputs"),
    "density-negative": Case("check", sub(P, "Weights: 0.5", "Weights: -0.1"), P, "Weights"),
    "density-nan": Case("model", sub(P, "Inputs: 0.5", "Inputs: .nan"), P, "Inputs"),
    "unknown-distribution": Case("model", sub(P, "Inputs: 0.5", "Inputs: {density: 0.5, distribution: zipf}"),
                                 P, "zipf"),
    "density-of-unknown-space": Case("model", sub(P, "Outputs: 1.0", "Outputs: 1.0\n      Psums: 0.5"),
                                     P, "Psums"),
    # --- unknown names
    # with an ERT given, a subclass is only a name (Timeloop asks Accelergy about it only without one)
    "unknown-subclass-with-ert": Case("model", sub(A, "subclass: smartbuffer_metadata", "subclass: flux_capacitor"),
                                      ok=True),
    "unknown-mapping-target": Case("model", sub(M, "target: psum_spad\n    type: temporal",
                                                "target: L9\n    type: temporal"), M, "L9"),
    "unknown-factor-dimension": Case("model", sub(M, "factors: C1 M8 R1 S1 N1 P1 Q1",
                                                  "factors: C1 M8 R1 S1 N1 P1 Q1 Z4"), M, "Z"),
    "unknown-permutation-dimension": Case("model", sub(M, "permutation: MCRSNPQ", "permutation: MCRSNPQZ"), M, "Z"),
    "unknown-mapping-type": Case("model", sub(M, "type: temporal", "type: diagonal"), M, "diagonal"),
    "unknown-keep-space": Case("model", sub(M, "keep:\n      - Outputs", "keep:\n      - Psums"), M, "Psums"),
    "unknown-sparse-format": Case("model", sub(S, "format: RLE", "format: ZIP"), S, "ZIP"),
    "unknown-sparse-target": Case("model", sub(S, "- name: weights_spad", "- name: nowhere_spad"), S,
                                  "nowhere_spad"),
    "unknown-condition-space": Case("model", sub(S, "condition-on: [ Inputs ]", "condition-on: [ Psums ]"), S,
                                    "Psums"),
    "unknown-version": Case("check", sub(A, "version: 0.3", "version: 9.9"), A, "version"),
    "unknown-projection-dimension": Case("check", sub(P, "      - - - C\n      - - - M",
                                                      "      - - - Z\n      - - - M"), P, "Z"),
    # --- contradictions
    "factors-do-not-multiply": Case("model", sub(M, "factors: C1 M8 R1 S1 N1 P1 Q1", "factors: C1 M4 R1 S1 N1 P1 Q1"),
                                    M, "M"),
    # the outermost level keeps every data space whatever the mapping says (ENGINE-NOTES 1, keep/bypass)
    "bypass-everything-everywhere": Case("model", all_bypass, ok=True),
    "keep-and-bypass-one-space": Case("model", sub(M, "bypass:\n      - Weights", "bypass:\n      - Outputs"),
                                      M, "Outputs"),
    "spatial-beyond-the-mesh": Case("model", sub(M, "factors: C1 M1 R1 S1 N1 P1 Q14", "factors: C1 M1 R1 S1 N1 P1 Q28"),
                                    M, "Q"),
    # --- map (the search is never started on bad input)
    "map-negative-dimension": Case("map", sub(P, "C: 256", "C: -1"), P, "C"),
    "map-unknown-constraint-target": Case("map", sub("eyeriss_like_map_constraints.yaml", "target: DRAM",
                                                     "target: NOWHERE"), "eyeriss_like_map_constraints.yaml",
                                          "NOWHERE"),
    "map-bad-mapper-option": Case("map", sub("mapper.yaml", "optimization-metrics", "optimisation-metrix"),
                                  "mapper.yaml", ""),
    # --- arch show: names are not paths
    "arch-show-unknown": Case("arch", lambda f: ["no_such_arch"], "no_such_arch", "unknown architecture"),
    "arch-show-path-escape": Case("arch", lambda f: ["../../../etc"], "../../../etc", "unknown architecture"),
    "arch-show-empty": Case("arch", lambda f: [""], "''", "unknown architecture"),
    "arch-show-markup": Case("arch", lambda f: ["[red]x[/red]:x:"], "[red]x[/red]:x:", "unknown architecture"),
    # --- estimate (ERT/ART from the architecture and its compound components)
    "estimate-negative-width": Case("estimate", sub(A, "width: 64\n            block_size: 4",
                                                   "width: -64\n            block_size: 4"), A, "width"),
    "estimate-nan-depth": Case("estimate", sub(A, "data_storage_depth: 12800", "data_storage_depth: .nan"), A,
                               "data_storage_depth"),
    "estimate-no-architecture": Case("estimate", write(A, "# emptied\n"), A, "empty"),
    "estimate-folder-as-file": Case("estimate", replace_with("mac.yaml", lambda p: p.mkdir()), "mac.yaml",
                                    "directory"),
    "symlink-loop": Case("check", replace_with(P, lambda p: p.symlink_to(p.name)), P, ""),
    # --- legal inputs still pass
    "legal-estimate": Case("estimate", None, ok=True),
    "legal-reference": Case("model", None, ok=True),
    "legal-unit-density": Case("model", sub(P, "Inputs: 0.5", "Inputs: 1.0"), ok=True),
    "legal-check": Case("check", None, ok=True),
}


def _base(command: str) -> str:
    return MAPPER_CASE if command == "map" else MODEL_CASE


@pytest.fixture(scope="module")
def originals(tmp_path_factory) -> dict[str, Path]:
    """One pristine copy of each reference case's inputs (copied again per case)."""
    root = tmp_path_factory.mktemp("hostile_spec")
    out = {}
    for case in (MODEL_CASE, MAPPER_CASE):
        dest = root / case
        dest.mkdir()
        for f in input_files(case):
            shutil.copy(f, dest / f.name)
        out[case] = dest
    return out


def _argv(case: Case, folder: Path, extra: list[str]) -> list[str]:
    files = [str(folder / f.name) for f in input_files(_base(case.command))]
    if case.command == "arch":
        return ["arch", "show", *extra]
    files += extra
    if case.command == "check":
        return ["check", *files]
    if case.command == "estimate":
        names = ("arch.yaml", "mac.yaml", "regfile_metadata.yaml", "smartbuffer.yaml", "smartbuffer_metadata.yaml")
        return ["estimate", *[f for f in files if Path(f).name in names], "--out", str(folder / "out")]
    if case.command == "map":
        return ["map", *files, "--budget-s", "20", "--out", str(folder / "out")]
    return [case.command, *files, "--out", str(folder / "out")]


@pytest.mark.parametrize("name", list(CASES))
def test_hostile_spec_input_is_refused_cleanly(originals, tmp_path: Path, name: str) -> None:
    case = CASES[name]
    folder = tmp_path / "case"
    shutil.copytree(originals[_base(case.command)], folder)
    extra = (case.edit(folder) if case.edit else None) or []
    argv = _argv(case, folder, extra)
    before = snapshot(folder)
    if case.child:
        proc = run_cli(*argv, timeout=60)
        code, output = proc.returncode, proc.stdout + proc.stderr
    else:
        result = CliRunner().invoke(app, argv)
        code, output = result.exit_code, result.output
        assert result.exception is None or isinstance(result.exception, SystemExit), repr(result.exception)
    assert "Traceback" not in output and "internal error" not in output, output[-3000:]
    if case.ok:
        assert code == 0, output[-3000:]
        return
    assert code == 2, output[-3000:]
    assert case.names in output and case.key in output, output[-3000:]
    assert "Fix:" in output or "fix:" in output.lower(), output[-3000:]
    assert snapshot(folder) == before  # nothing written, nothing deleted
