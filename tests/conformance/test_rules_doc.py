"""docs/input-rules.md is generated from `mmp.core.conformance` and must be current; the scalar
definition and the vectorised column conversion must agree (Hypothesis)."""

from __future__ import annotations

import contextlib
import math
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mmp.core.conformance import KINDS, ColumnRule, Refusal, conform_column, convert
from mmp.core.rules_doc import DOC_NAME, render
from tests.conftest import REPO


def test_input_rules_doc_is_current() -> None:
    committed = (REPO / "docs" / DOC_NAME).read_text(encoding="utf-8")
    assert committed == render(), f"docs/{DOC_NAME} is stale: run `python -m mmp.core.rules_doc`"


def test_serving_and_batch_docs_point_at_the_one_table() -> None:
    for page in ("serving.md", "batch-inference.md"):
        assert DOC_NAME in (REPO / "docs" / page).read_text(encoding="utf-8"), page


_texts = st.one_of(
    st.sampled_from(
        [
            "",
            "NA",
            "null",
            " 3 ",
            "3.0",
            "3.5",
            "-0",
            "1e5",
            "1e999",
            "inf",
            "yes",
            "N",
            "TRUE",
            "maybe",
            "1,5",
            "2024-01-31",
            "2024-01-31T12:00:00+02:00",
            "0001-01-01T00:00:00+03:04",
            "9223372036854775808",
            "0.0",
            "1.0",
            "red",
        ]
    ),
    st.text(max_size=6),
)
_values = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**64), max_value=2**64),
    st.floats(allow_nan=True, allow_infinity=True),
    _texts,
)


def _outcome(rule: ColumnRule, value: Any) -> Any:
    try:
        result = convert(rule, value)
    except Refusal as exc:
        return ("refused", exc.code)
    return ("ok", result)


@settings(max_examples=60, deadline=None)
@given(
    kind=st.sampled_from(KINDS),
    nullable=st.booleans(),
    values=st.lists(_values, min_size=1, max_size=8),
    container=st.sampled_from(["object", "typed"]),
)
def test_column_conversion_agrees_with_the_scalar_rule(
    kind: str, nullable: bool, values: list[Any], container: str
) -> None:
    import pandas as pd

    rule = ColumnRule("c", kind, nullable=nullable, unit="us")
    series = pd.Series(values, dtype=object)
    if container == "typed":  # the dtype pandas would infer (text columns, numbers, booleans)
        with contextlib.suppress(TypeError, ValueError, OverflowError):
            series = pd.Series(values)
    converted, refused = conform_column(rule, series)
    for row, value in enumerate(values):
        expected = _outcome(rule, value)
        if row in refused:
            assert expected == ("refused", refused[row].code), (value, refused[row].message)
            continue
        assert expected[0] == "ok", (value, expected)
        got = converted.iloc[row]
        want = expected[1]
        if want is None:
            assert pd.isna(got), (value, got)
        elif kind == "datetime":
            assert pd.Timestamp(got).to_pydatetime() == want, (value, got)
        elif isinstance(want, float) and math.isnan(want):
            assert pd.isna(got)
        else:
            assert got == want and (kind != "boolean" or isinstance(got, bool)), (value, got, want)


@pytest.mark.parametrize(
    ("value", "code"),
    [("\ud800", "wrong_type"), ("0001-01-01T00:00:00+03:04", "out_of_range")],
)
def test_client_input_that_used_to_500_is_a_refusal(value: str, code: str) -> None:
    kind = "string" if code == "wrong_type" else "datetime"
    with pytest.raises(Refusal) as err:
        convert(ColumnRule("c", kind, nullable=True), value)
    assert err.value.code == code


@pytest.mark.parametrize("nullable", [True, False])
def test_text_into_a_number_column_is_float64_and_agrees_with_the_scalar_rule(nullable: bool) -> None:
    """CSV text takes the vectorised path straight to float64; odd spellings still follow `convert`."""
    import numpy as np
    import pandas as pd

    values = [" 1.5 ", "-0", "+.5", "1e3", "1e999", "-inf", "NaN", "", "n/a", None, "1,5", "١٢", "x", "7"]
    rule = ColumnRule("c", "number", nullable=nullable)
    converted, refused = conform_column(rule, pd.Series(values, dtype="str"))
    assert converted.dtype == np.float64
    for row, value in enumerate(values):
        expected = _outcome(rule, value)
        if row in refused:
            assert expected == ("refused", refused[row].code), value
            assert np.isnan(converted.iloc[row])
        elif expected[1] is None:
            assert np.isnan(converted.iloc[row]), value
        else:
            assert converted.iloc[row] == expected[1] and str(converted.iloc[row]) == str(expected[1]), value
