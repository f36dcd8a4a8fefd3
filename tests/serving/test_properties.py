"""Property: the generated request model accepts every training row, and the server scores it exactly
as the pipeline itself does."""

from __future__ import annotations

import math
from typing import Any

import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.conftest import EXAMPLES, TrainedExample


def _as_client_json(frame: pd.DataFrame, i: int, columns: list[str]) -> dict[str, Any]:
    """What a client would send for row i: JSON scalars of each column's own type, null for
    missing, ISO dates."""
    out: dict[str, Any] = {}
    for name in columns:
        value = frame[name].iloc[i]
        if hasattr(value, "item"):
            value = value.item()
        if value is None or (isinstance(value, float) and math.isnan(value)) or value is pd.NaT:
            value = None
        elif hasattr(value, "isoformat"):
            value = value.isoformat()
        out[name] = value
    return out


@pytest.mark.parametrize("name", EXAMPLES)
def test_every_training_row_is_accepted_and_scored_like_the_pipeline(
    name: str, serve: Any, trained: dict[str, TrainedExample], loaded_models: dict[str, Any]
) -> None:
    from mmp.core.scoring import model_input

    loaded = loaded_models[name]
    contract = loaded.contract
    frame = pd.read_csv(trained[name].data_path)
    for col in contract.by_role("timestamp"):
        frame[col.name] = pd.to_datetime(frame[col.name])
    expected = loaded.pipeline.predict(model_input(contract, frame)).tolist()
    with serve(name) as client:

        @settings(max_examples=40, deadline=None, database=None)
        @given(st.integers(min_value=0, max_value=len(frame) - 1))
        def check(i: int) -> None:
            body = _as_client_json(frame, i, contract.request_columns)
            response = client.post("/predict", json=body)
            assert response.status_code == 200, response.text
            assert response.json()["prediction"] == expected[i]

        check()
