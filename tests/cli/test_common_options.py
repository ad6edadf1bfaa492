"""Options that several commands share are read by one helper each (`sparse_hw.cli._common`)."""

from __future__ import annotations

import pytest

from sparse_hw.cli._common import objective_metrics


@pytest.mark.parametrize("text, metrics", [
    (None, None),
    ("", None),
    (",", None),
    ("delay", ["delay"]),
    (" delay , energy ", ["delay", "energy"]),
    ("delay,,energy,", ["delay", "energy"]),
])  # fmt: skip
def test_objective_is_read_alike_by_every_command(text: str | None, metrics: list[str] | None) -> None:
    assert objective_metrics(text) == metrics
