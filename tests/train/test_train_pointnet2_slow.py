"""GMP 0.9 on PointNet++ / synthetic-shapes stays within 3 accuracy points of the dense model.

Realistic size (default dataset and model), a few minutes on two cores; deselected by default
(``pytest -m slow tests/train``). ``benchmarks/train_pointnet2_gmp.py`` prints the same figures.
"""

from __future__ import annotations

import pytest

from sparse_hw.train import TrainConfig, build_model, load_checkpoint, train

DENSE_EPOCHS, PRUNE_EPOCHS, FINETUNE_EPOCHS = 8, 5, 2


@pytest.mark.slow
def test_gmp_090_pointnet2_is_within_three_points_of_dense(tmp_path):
    common = {"model": "pointnet2", "data": "synthetic-shapes", "seed": 0, "measure_latency": False}
    dense = train(TrainConfig(**common, epochs=DENSE_EPOCHS, out=tmp_path / "dense.pt"))
    assert dense.meta.accuracy_after > 0.8  # chance is 1/12
    gmp = train(TrainConfig(**common, epochs=0, methods=["gmp"], sparsity=0.9,
                            prune_epochs=PRUNE_EPOCHS, finetune_epochs=FINETUNE_EPOCHS,
                            init_checkpoint=tmp_path / "dense.pt", out=tmp_path / "gmp.pt"))
    assert gmp.meta.achieved_weight_sparsity == pytest.approx(0.9, abs=0.01)
    assert gmp.meta.accuracy_before == dense.meta.accuracy_after
    assert gmp.meta.accuracy_after >= dense.meta.accuracy_after - 0.03
    state, meta = load_checkpoint(tmp_path / "gmp.pt")
    assert len([r for r in meta.per_layer if r.prunable]) == 12
    assert build_model(meta, state) is not None
