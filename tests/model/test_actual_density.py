"""The actual-data density model (issue 16): tiles counted from a real 0/1 mask.

Counting is checked against brute force on small tensors (sliding windows included), the mask
reader's faults each give one SpecError naming the file and the expected size, and the MICRO'22
artifact's fig12 layers reproduce the Eyeriss v2 PE's ground-truth cycles.
"""

from __future__ import annotations

import itertools
from pathlib import Path

import numpy as np
import pytest

from sparse_hw.errors import SpecError
from sparse_hw.model.density import ActualDensity, joint_count
from sparse_hw.model.masks import read_mask, resolve_mask_path
from tests.model.fig12 import FIG12, ground_truth
from tests.model.fig12 import evaluate as _evaluate

needs_fig12 = pytest.mark.skipif(not FIG12.is_dir(), reason="../shared/reference/examples missing")

# A strided, dilated 2-D convolution: dims R, E, C (W = R*2 + E*3), Inputs (C, W), Weights (C, R).
BOUNDS = np.array([3, 4, 2])  # R, E, C
IN_COEF = np.array([[0, 0, 1], [2, 3, 0]])  # coordinate C; coordinate W = 2R + 3E
W_COEF = np.array([[0, 0, 1], [1, 0, 0]])  # C, R


def _brute_counts(dense: np.ndarray, coef: np.ndarray, ext) -> np.ndarray:
    """Nonzeros of each operation-space tile, by enumerating the points of every tile."""
    rel = [d for d in range(len(BOUNDS)) if coef[:, d].any()]
    steps = [range(0, BOUNDS[d], ext[d]) for d in rel]
    out = np.zeros([len(s) for s in steps], dtype=np.int64)
    for idx in itertools.product(*[range(len(s)) for s in steps]):
        lo = np.zeros(len(BOUNDS), dtype=np.int64)
        hi = np.ones(len(BOUNDS), dtype=np.int64)
        for j, d in enumerate(rel):
            lo[d] = idx[j] * ext[d]
            hi[d] = min(lo[d] + ext[d], BOUNDS[d])
        pts = {
            tuple(int(v) for v in coef @ np.array(p))
            for p in itertools.product(*[range(lo[d], hi[d]) for d in range(len(BOUNDS))])
        }
        # the tile is the bounding box of its points (Timeloop's AAHR)
        box = [range(min(p[k] for p in pts), max(p[k] for p in pts) + 1) for k in range(coef.shape[0])]
        out[idx] = sum(int(dense[p]) for p in itertools.product(*box))
    return out


@pytest.mark.parametrize("ext", [(1, 1, 1), (3, 1, 1), (1, 2, 1), (3, 2, 2), (2, 3, 1), (3, 4, 2)])
def test_tile_counts_match_brute_force_with_sliding_windows(ext) -> None:
    rng = np.random.default_rng(7)
    extents = 1 + IN_COEF @ (BOUNDS - 1)  # C=2, W=14
    dense = rng.random(tuple(extents)) < 0.5
    flat = dense.T.reshape(-1)  # first rank (C) fastest
    model = ActualDensity(flat, IN_COEF, BOUNDS)
    assert np.array_equal(model.array, dense)
    got = model.tile_counts(ext)
    want = _brute_counts(dense, IN_COEF, ext)
    assert np.array_equal(got, want)
    ks, ps = model.occupancy_distribution(int(np.prod(extents)), ext=ext)
    assert ps.sum() == pytest.approx(1.0)
    assert model.max_occupancy(0, ext=ext) == want.max()
    assert float(model.p_empty(0, ext=ext)) == pytest.approx(np.mean(want == 0))


def test_joint_count_matches_enumeration() -> None:
    rng = np.random.default_rng(3)
    inputs = rng.random(tuple(1 + IN_COEF @ (BOUNDS - 1))) < 0.6
    weights = rng.random(tuple(1 + W_COEF @ (BOUNDS - 1))) < 0.4
    mi = ActualDensity(inputs.T.reshape(-1), IN_COEF, BOUNDS)
    mw = ActualDensity(weights.T.reshape(-1), W_COEF, BOUNDS)
    want = sum(
        int(inputs[tuple(IN_COEF @ p)] and weights[tuple(W_COEF @ p)])
        for p in itertools.product(*[range(b) for b in BOUNDS])
    )
    one = (1, 1, 1)
    assert joint_count([(mi, one), (mw, one)], BOUNDS) == want
    assert joint_count([(mi, one)], BOUNDS) == sum(
        int(inputs[tuple(IN_COEF @ p)]) for p in itertools.product(*[range(b) for b in BOUNDS])
    )
    # a coarser condition tile (all of R) on a finer target grid: points whose R-window is nonempty
    def window_nonempty(p) -> bool:
        return any(inputs[tuple(IN_COEF @ np.array([r, p[1], p[2]]))] for r in range(3))

    want_coarse = sum(
        int(weights[tuple(W_COEF @ p)] and window_nonempty(p))
        for p in itertools.product(*[range(b) for b in BOUNDS])
    )
    assert joint_count([(mw, one), (mi, (3, 1, 1))], BOUNDS) == want_coarse


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "m.txt"
    path.write_text(text)
    return path


def test_mask_reader_accepts_whitespace_and_gives_the_flat_mask(tmp_path: Path) -> None:
    path = _write(tmp_path, "0110\n10 01\n")
    mask = read_mask(str(path), 8)
    assert mask.tolist() == [False, True, True, False, True, False, False, True]


@pytest.mark.parametrize(
    ("text", "density", "words"),
    [
        ("0101010", None, "has 7 elements; the tensor has 8"),
        ("01010102", None, "other than 0/1"),
        ("01010101", 0.9, "disagrees with mask file"),
    ],
)
def test_bad_masks_give_one_error_naming_the_file_and_size(tmp_path: Path, text, density, words) -> None:
    path = _write(tmp_path, text)
    with pytest.raises(SpecError) as info:
        read_mask(str(path), 8, density=density, key_path="problem.instance.densities.Inputs.data_file_path")
    message = str(info.value)
    assert words in message
    assert "m.txt" in message
    assert "8" in message


def test_missing_mask_and_relocated_absolute_path(tmp_path: Path) -> None:
    (tmp_path / "a" / "masks").mkdir(parents=True)
    (tmp_path / "a" / "masks" / "x.txt").write_text("1")
    # an absolute path written on another machine is found by its tail under the spec's folders
    assert resolve_mask_path("/home/elsewhere/a/masks/x.txt", [tmp_path / "a" / "spec"]) == (
        tmp_path / "a" / "masks" / "x.txt"
    )
    with pytest.raises(SpecError, match="not found"):
        read_mask("nowhere/y.txt", 4, bases=[tmp_path])


@needs_fig12
@pytest.mark.parametrize("layer", ["L09", "L13", "L25"])
def test_fig12_actual_data_meets_the_ground_truth(layer: str) -> None:
    """Layers without a recorded actual-data run (L07/L21/L27 are conformance cases): cycles within
    0.5 % of the Eyeriss v2 PE's ground truth, where the uniform model misses by more than 1 %."""
    truth = ground_truth()[layer]
    actual = _evaluate(layer, "actual_data")
    uniform = _evaluate(layer, "uniform")
    assert abs(actual.cycles - truth) / truth <= 0.005
    assert abs(uniform.cycles - truth) / truth > 0.01


@needs_fig12
def test_fig12_capacity_is_the_fullest_real_tile() -> None:
    """weight_spad holds C8 x M8 weight tiles: the artifact's build reports 47 at most (not 64)."""
    ev = _evaluate("L07", "actual_data")
    assert ev.level("weight_spad", "Weights").max_occupancy == 47
    assert ev.level("BackingStorage", "Inputs").max_occupancy == 47716  # every nonzero of the mask
    # metadata within a tile: fixed-structured given the tile's real count, as the artifact's build
    assert ev.level("weight_spad", "Weights").metadata_reads == 2162222
    assert ev.level("weight_spad", "Weights").skipped_metadata_reads == 609746


@needs_fig12
def test_fig12_mask_of_the_wrong_size_names_file_and_size(tmp_path: Path) -> None:
    from sparse_hw.model.evaluate import Engine
    from sparse_hw.spec import load_spec

    bad = tmp_path / "short.txt"
    bad.write_text("1" * 100)
    text = (FIG12 / "workload/mobilenet0.5-sparse/actual_data/L09.yaml").read_text()
    text = text.replace("actual_data_masks/L09_iacts.txt", str(bad))
    text = text.replace(
        "actual_data_masks/L09_weights.txt",
        str(FIG12 / "workload/mobilenet0.5-sparse/actual_data/actual_data_masks/L09_weights.txt"),
    )
    prob = tmp_path / "L09.yaml"
    prob.write_text(text)
    spec = load_spec([prob, FIG12 / "hardware-specs/designs/arch.yaml", FIG12 / "ert_art/ERT.yaml"])
    with pytest.raises(SpecError) as info:
        Engine.from_spec(spec)
    assert "short.txt" in str(info.value) and "16384" in str(info.value)


def test_padded_problem_pads_the_mask_with_zeros() -> None:
    """`pad_problem` grows a dimension so that it factorizes: the extra elements are zeros."""
    rng = np.random.default_rng(5)
    dense = rng.random((2, 14)) < 0.5
    padded = ActualDensity(dense, IN_COEF, np.array([3, 5, 2]))  # E 4 -> 5: W 14 -> 17
    assert padded.array.shape == (2, 17)
    assert padded.nnz == int(dense.sum())
    assert not padded.array[:, 14:].any()
    assert padded.tile_counts((3, 1, 2)).reshape(-1)[-1] == int(dense[:, 12:].sum())  # W 12..16
