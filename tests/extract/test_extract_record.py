"""LayerRecord table forms: the CLI contract's columns, lossless CSV and JSON round trips."""

from __future__ import annotations

import csv
import io

import pandas as pd
import pytest

from sparse_hw.errors import DataError
from sparse_hw.extract.record import ALL_COLUMNS, CSV_COLUMNS, LayerRecord
from sparse_hw.report.columns import LAYER_COLUMNS
from tests.extract.helpers import make_record


def test_csv_columns_are_the_cli_contract() -> None:
    contract = (
        "model, checkpoint, layer, order, op, N, C, M, R, S, P, Q, G, stride_h, stride_w, dilation_h, "
        "dilation_w, weight_density, input_density, output_density, density_model, pattern, macs, params, nnz"
    )
    assert CSV_COLUMNS == tuple(c.strip() for c in contract.split(","))
    assert CSV_COLUMNS == LAYER_COLUMNS  # what the report stage reads
    assert ALL_COLUMNS[: len(CSV_COLUMNS)] == CSV_COLUMNS
    row = make_record().to_row()
    assert tuple(row) == ALL_COLUMNS


def test_macs_and_row_values() -> None:
    r = make_record(prime_dims=(("C", 131),), padded=(("C", 135),), C=131)
    assert r.macs == 131 * 256 * 14 * 14
    row = r.to_row()
    assert (row["checkpoint"], row["nnz"], row["weight_nnz"], row["macs"]) == (
        "0123456789ab",
        9830,
        9830,
        r.macs,
    )
    assert row["prime_dims"] == "C=131" and row["padded"] == "C:131->135"
    assert r.problem_dims["C"] == 135 and r.dims["C"] == 131


@pytest.mark.parametrize("record", [
    make_record(),
    make_record(weight_density=0.1 + 1e-17 * 3, input_density=1 / 3, prime_dims=(("C", 131), ("P", 13)),
                padded=(("C", 135),), target_sparsity=None, accuracy=None, output_consumer=""),
])  # fmt: skip
def test_csv_and_json_round_trips_are_lossless(record: LayerRecord) -> None:
    buf = io.StringIO()
    pd.DataFrame([record.to_row()]).to_csv(buf, index=False)
    rows = list(csv.DictReader(io.StringIO(buf.getvalue())))
    assert LayerRecord.from_row(rows[0]) == record
    assert LayerRecord.from_dict(record.to_dict()) == record


def test_from_dict_rejects_edited_or_foreign_records() -> None:
    data = make_record().to_dict()
    with pytest.raises(DataError, match="macs"):
        LayerRecord.from_dict(data | {"macs": 1})
    with pytest.raises(DataError, match="unknown key"):
        LayerRecord.from_dict(data | {"colour": "blue"})
    with pytest.raises(DataError, match="missing key.*weight_density"):
        LayerRecord.from_dict({k: v for k, v in data.items() if k != "weight_density"})
    with pytest.raises(DataError, match="field C"):
        LayerRecord.from_dict(data | {"C": "many"})
