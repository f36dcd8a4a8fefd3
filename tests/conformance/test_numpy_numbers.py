"""The numpy-only path for number columns gives exactly what the general path gives.

`conform_column` takes a numpy shortcut for int/float input into `number`/`integer` columns (the
dtype pyfunc callers and the file readers pass); it must change nothing but the time: the same
values (bit for bit, NaN where refused or missing), the same dtype, and the same refusals.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mmp.core.conformance import ColumnRule, _conform_column, _is_numpy_number_column, conform_column

SPECIAL = [0.0, -0.0, np.nan, np.inf, -np.inf, 1e308, -1e-308, 2.0**63, 3.5, -7.0]


@st.composite
def columns(draw: Any) -> tuple[ColumnRule, pd.Series]:
    kind = draw(st.sampled_from(["number", "integer"]))
    nullable = draw(st.booleans())
    dtype = draw(
        st.sampled_from(
            ["int64", "int32", "int8"] if kind == "integer" else ["float64", "float32", "int64", "int16"]
        )
    )
    n = draw(st.integers(0, 12))
    if dtype.startswith("float"):
        values = draw(
            st.lists(
                st.one_of(
                    st.floats(allow_nan=True, allow_infinity=True, width=32 if dtype == "float32" else 64),
                    st.sampled_from(SPECIAL),
                ),
                min_size=n,
                max_size=n,
            )
        )
    else:
        info = np.iinfo(dtype)
        values = draw(st.lists(st.integers(int(info.min), int(info.max)), min_size=n, max_size=n))
    index = draw(st.sampled_from([None, list(range(100, 100 + n)), list(range(n))[::-1]]))
    with np.errstate(over="ignore"):
        series = pd.Series(np.array(values, dtype=dtype), index=index, name="x")
    return ColumnRule(name="x", kind=kind, nullable=nullable), series


@settings(max_examples=300, deadline=None)
@given(columns())
def test_the_numpy_path_equals_the_general_path(case: tuple[ColumnRule, pd.Series]) -> None:
    rule, series = case
    assert _is_numpy_number_column(rule, series.dtype)
    fast, fast_refused = conform_column(rule, series)
    general, general_refused = _conform_column(rule, series)
    assert fast.dtype == general.dtype
    assert fast.index.equals(general.index)
    np.testing.assert_array_equal(fast.to_numpy(), general.to_numpy())  # NaN == NaN here
    assert np.signbit(fast.to_numpy()).tolist() == np.signbit(general.to_numpy()).tolist()
    assert {row: (r.code, str(r)) for row, r in fast_refused.items()} == {
        row: (r.code, str(r)) for row, r in general_refused.items()
    }


@pytest.mark.parametrize(
    ("rule", "dtype"),
    [
        (ColumnRule("x", "number", True, levels=(1.0, 2.0)), "float64"),  # refused unseen levels
        (ColumnRule("x", "integer", False), "float64"),  # fractions and overflow are checked per value
        (ColumnRule("x", "number", False), "Float64"),  # pandas' nullable dtypes
        (ColumnRule("x", "number", False), "uint64"),  # may exceed int64
        (ColumnRule("x", "number", False), "object"),
    ],
)
def test_other_columns_take_the_general_path(rule: ColumnRule, dtype: str) -> None:
    assert not _is_numpy_number_column(rule, pd.Series([1, 2], dtype=dtype).dtype)
