"""Pruning-pattern detection from the weights themselves, and the density model each implies."""

from __future__ import annotations

import pytest
import torch

from sparse_hw.extract.density import detect_block, detect_nm, weight_pattern
from sparse_hw.extract.padding import awkward_dims, friendly_size, padded_dims
from sparse_hw.mapper.search import padded_size
from tests.extract.helpers import nm_prune


def _w(*shape: int, seed: int = 0) -> torch.Tensor:
    return torch.randn(*shape, generator=torch.Generator().manual_seed(seed))


def test_dense_and_unstructured() -> None:
    w = _w(64, 32, 3, 3)
    assert weight_pattern(w).pattern == "dense"
    assert weight_pattern(w).density_model == "fixed_structured"
    for keep in (0.5, 0.25, 0.1, 0.02):
        u = w * (torch.rand(w.shape, generator=torch.Generator().manual_seed(1)) < keep)
        p = weight_pattern(u)
        assert (p.pattern, p.density_model) == ("unstructured", "hypergeometric"), keep


@pytest.mark.parametrize("n, m", [(2, 4), (1, 4), (4, 8), (1, 2)])
def test_nm_along_the_flattened_input(n: int, m: int) -> None:
    w = _w(32, 16, 3, 3)
    nm_prune(w, n, m)
    assert detect_nm(w) == (n, m, "along C*R*S (flattened)")
    p = weight_pattern(w)
    assert (p.pattern, p.density_model) == ("n:m", "fixed_structured")
    assert p.detail.startswith(f"{n}:{m}")


def test_nm_along_channels_asp_layout_and_linear() -> None:
    w = _w(16, 32, 3, 3).permute(0, 2, 3, 1).contiguous()  # [M, kh, kw, C]
    nm_prune(w, 2, 4)  # groups of 4 consecutive input channels at each kernel position
    w = w.permute(0, 3, 1, 2).contiguous()
    assert detect_nm(w) == (2, 4, "along C")
    lin = _w(10, 64)
    nm_prune(lin, 2, 4)
    assert weight_pattern(lin).pattern == "n:m"


def test_nm_tolerates_weights_that_are_exactly_zero_anyway() -> None:
    w = _w(64, 64)
    nm_prune(w, 2, 4)
    nz = w.nonzero()
    w[nz[:20, 0], nz[:20, 1]] = 0.0  # 20 of 2048 groups hold one zero more
    assert detect_nm(w) == (2, 4, "along C*R*S (flattened)")


def test_blocks_kernels_and_filters() -> None:
    gen = torch.Generator().manual_seed(3)
    lin = _w(64, 64)
    keep = (torch.rand(16, 16, generator=gen) < 0.3).repeat_interleave(4, 0).repeat_interleave(4, 1)
    assert detect_block(lin * keep) == (4, 4, 1, 1)
    assert weight_pattern(lin * keep).pattern == "block"
    conv = _w(16, 8, 3, 3)
    kernels = (torch.rand(16, 8, 1, 1, generator=gen) < 0.5).float()
    assert detect_block(conv * kernels) == (1, 1, 3, 3)  # kernel-level pruning
    filters = torch.ones(16, 1, 1, 1)
    filters[[1, 5, 9]] = 0.0
    p = weight_pattern(conv * filters)
    assert p.pattern == "block" and "1x8x3x3" in p.detail  # whole filters zeroed, shape unchanged


def test_channel_pruning_is_a_shape_change() -> None:
    w = _w(40, 30, 3, 3)
    p = weight_pattern(w, dense_shape=(64, 32, 3, 3))
    assert (p.pattern, p.density_model) == ("channel", "fixed_structured")
    assert "[64, 32, 3, 3] -> [40, 30, 3, 3]" in p.detail
    u = w * (torch.rand(w.shape, generator=torch.Generator().manual_seed(2)) < 0.5)
    assert weight_pattern(u, dense_shape=(64, 32, 3, 3)).pattern == "channel+unstructured"
    assert weight_pattern(w, dense_shape=(40, 30, 3, 3)).pattern == "dense"


def test_friendly_sizes_follow_the_mapper_rule() -> None:
    assert friendly_size(131) == 135 and friendly_size(67) == 70 and friendly_size(13) == 14
    assert awkward_dims({"C": 131, "M": 1000, "P": 13, "Q": 7, "R": 11, "S": 3, "N": 1}) == {
        "C": 131,
        "P": 13,
        "R": 11,
    }
    assert padded_dims({"C": 259, "M": 512}) == {"C": 270}
    for n in range(1, 600):
        assert friendly_size(n) == padded_size(n)
