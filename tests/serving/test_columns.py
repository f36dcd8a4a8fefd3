"""The column-wise batch path agrees with the value-by-value rules: `conformance.convert_column` is
`convert` on each value (or None when any is refused), and `BatchReader` takes exactly the bodies the
generated request model accepts, converted the same way."""

from __future__ import annotations

import math
from typing import Any

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from mmp.core.conformance import ColumnRule, Refusal, convert, convert_column

RULES = [
    ColumnRule("n", "number", nullable=False),
    ColumnRule("n", "number", nullable=True),
    ColumnRule("i", "integer", nullable=False),
    ColumnRule("i", "integer", nullable=True),
    ColumnRule("b", "boolean", nullable=False),
    ColumnRule("b", "boolean", nullable=True),
    ColumnRule("s", "string", nullable=False),
    ColumnRule("s", "string", nullable=True, levels=("a", "b", "NA")),
    ColumnRule("d", "datetime", nullable=True),
    ColumnRule("d", "datetime", nullable=False, tz="Europe/Paris"),
    ColumnRule("n", "number", nullable=True, levels=(1, 2.5)),
]

NUMBERS = st.one_of(
    st.integers(min_value=-(2**70), max_value=2**70),
    st.sampled_from([0, 1, 3, 2**63 - 1, -(2**63), 2**63, 10**400]),
    st.floats(allow_nan=True, allow_infinity=True),
    st.sampled_from([1.0, 2.5, 0.0, 3.0]),
)
TEXTS = st.one_of(
    st.sampled_from(["a", "b", "NA", "", "null", " 3.5 ", "3", "true", "no", "2024-01-31", "\ud800", "x"]),
    st.sampled_from(["2024-01-31T12:00:00Z", "2024-01-31T12:00:00+02:00", "1500-01-01"]),
    st.text(max_size=4),
)
FAMILIES = [NUMBERS, st.integers(min_value=-(2**64), max_value=2**64), st.booleans(), TEXTS]
JSON_SCALARS = st.one_of(st.none(), *FAMILIES)
# Mostly one JSON type per column (the vectorised branches), with None and a stray value of any type.
COLUMNS = st.one_of(
    *(st.lists(st.one_of(family, st.none()), min_size=1, max_size=8) for family in FAMILIES),
    *(st.lists(family, min_size=1, max_size=8) for family in FAMILIES),
    st.lists(JSON_SCALARS, min_size=1, max_size=8),
)


def _key(value: Any) -> Any:
    """Compare converted values by type and value (NaN equal to NaN)."""
    if isinstance(value, float) and math.isnan(value):
        return (float, "nan")
    return (type(value), value)


def _expected(rule: ColumnRule, values: list[Any]) -> list[Any] | None:
    try:
        return [convert(rule, v) for v in values]
    except Refusal:
        return None


@pytest.mark.parametrize("rule", RULES, ids=lambda r: f"{r.kind}-{r.nullable}-{bool(r.levels)}-{r.tz}")
@settings(max_examples=150, deadline=None, database=None)
@given(values=COLUMNS)
@example(values=[float("inf")])
@example(values=[1, None, 2**63])
@example(values=["NA", "a", None])
@example(values=[1.5, float("nan")])
@example(values=["a", "b\ud800"])
def test_convert_column_is_convert_on_every_value(rule: ColumnRule, values: list[Any]) -> None:
    expected = _expected(rule, values)
    got = convert_column(rule, list(values))
    if expected is None:
        assert got is None
    else:
        assert got is not None
        assert [_key(v) for v in got] == [_key(v) for v in expected]


@settings(max_examples=100, deadline=None, database=None)
@given(
    rule=st.sampled_from(RULES[:8]),
    values=st.lists(st.sampled_from([0, 1, 2, 1.5, -3.0, True, False, None, "a", "b", "NA"]), min_size=1),
)
def test_convert_column_on_the_common_shapes(rule: ColumnRule, values: list[Any]) -> None:
    """Homogeneous columns take the vectorised branches: the same answer as `convert`."""
    for column in ([v for v in values if type(v) is t or v is None] for t in (int, float, bool, str)):
        if not column:
            continue
        expected = _expected(rule, column)
        got = convert_column(rule, column)
        assert (got is None) == (expected is None)
        if got is not None and expected is not None:
            assert [_key(v) for v in got] == [_key(v) for v in expected]


def test_batch_reader_takes_exactly_the_valid_bodies(loaded_models: dict[str, Any]) -> None:
    from mmp.serving.columns import BatchReader
    from mmp.serving.schema import build_schemas, example_record

    contract = loaded_models["retail_sell_through"].contract
    reader = BatchReader(contract, max_records=3)
    schemas = build_schemas(contract, None, 3)
    good = example_record(contract)
    columns = reader.read({"records": [good, good]})
    assert columns is not None and columns.n == 2
    validated = schemas.batch.model_validate({"records": [good, good]})
    rows = [schemas.row(r) for r in validated.records]  # type: ignore[attr-defined]
    assert list(columns.rows()) == rows
    assert columns.slice(1, 5).n == 1
    name = contract.request_columns[0]
    for body in (
        {"records": []},
        {"records": [good] * 4},
        {"records": [good], "extra": 1},
        {"records": [{k: v for k, v in good.items() if k != name}]},
        {"records": [{**good, "unknown": 1}]},
        {"records": [good, [1, 2]]},
        {"records": good},
        [good],
        {"records": [{**good, name: {"nested": 1}}]},
    ):
        assert reader.read(body) is None, body


@pytest.mark.parametrize("name", ["breast_cancer", "retail_sell_through"])
def test_the_fast_and_the_validated_batch_paths_answer_alike(
    name: str, serve: Any, loaded_models: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The column-wise path and the record-by-record validation (what the route falls back to)
    give the same response."""
    from mmp.serving.columns import BatchReader
    from mmp.serving.schema import example_record

    record = example_record(loaded_models[name].contract)
    body = {"records": [record] * 5}
    taken: list[bool] = []
    read = BatchReader.read

    def spy(self: BatchReader, payload: Any) -> Any:
        columns = read(self, payload)
        taken.append(columns is not None)
        return columns

    with serve(name) as client:
        monkeypatch.setattr(BatchReader, "read", spy)
        fast = client.post("/predict/batch", json=body)
        monkeypatch.setattr(BatchReader, "read", lambda self, payload: None)
        slow = client.post("/predict/batch", json=body)
    assert taken == [True]
    assert fast.status_code == 200, fast.text
    assert slow.status_code == 200, slow.text
    assert slow.json() == fast.json()
