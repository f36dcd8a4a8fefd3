"""The bad-input battery: every wrong request gets the right 4xx and the one error shape."""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.serving.conftest import assert_error, example_body


@pytest.fixture
def retail(serve: Any) -> Any:
    # retail_sell_through has every kind of column: string entities, a nullable number, an
    # integer, categorical strings, a boolean and a timestamp.
    with serve("retail_sell_through", max_body_bytes=200_000) as client:
        yield client


def _fields(error: dict[str, Any]) -> dict[str, str]:
    return {f["field"]: f["type"] for f in error["fields"]}


def test_missing_column(retail: Any) -> None:
    body = example_body(retail)
    del body["discount_pct"]
    error = assert_error(retail.post("/predict", json=body), 422, "validation_error")
    assert _fields(error) == {"discount_pct": "missing"}


def test_unknown_column(retail: Any) -> None:
    body = {**example_body(retail), "colour": "red"}
    error = assert_error(retail.post("/predict", json=body), 422, "validation_error")
    assert _fields(error) == {"colour": "extra_forbidden"}


def test_target_column_is_refused_by_name(retail: Any) -> None:
    body = {**example_body(retail), "units_sold": 12}
    error = assert_error(retail.post("/predict", json=body), 422, "validation_error")
    assert _fields(error) == {"units_sold": "target_not_allowed"}
    assert "target" in error["fields"][0]["message"]


@pytest.mark.parametrize(
    ("column", "value"),
    [
        ("stock_units", 12.5),  # a float that is not whole, for an integer
        ("stock_units", "12 units"),  # text that is no integer ("12" and 12.0 are accepted)
        ("stock_units", True),  # a boolean is not an integer
        ("discount_pct", "0,2"),  # text that is no number ("0.2" is accepted)
        ("discount_pct", False),
        ("on_promotion", "maybe"),  # not a boolean spelling ("true", "yes", 1 are accepted)
        ("on_promotion", 2),
        ("category", ["toys"]),
        ("category", 3),  # a number is never text
        ("store_id", 7),  # a number for a string entity
        ("week_start", "last tuesday"),
        ("week_start", 1704067200),  # epoch numbers are ambiguous: ISO 8601 only
    ],
)
def test_wrong_types(retail: Any, column: str, value: Any) -> None:
    body = {**example_body(retail), column: value}
    error = assert_error(retail.post("/predict", json=body), 422, "validation_error")
    assert list(_fields(error)) == [column]


@pytest.mark.parametrize("literal", ["NaN", "Infinity", "-Infinity"])
def test_nan_and_infinity_are_rejected(retail: Any, literal: str) -> None:
    # Python's JSON parser accepts these non-standard literals; the contract must not.
    text = json.dumps({**example_body(retail), "discount_pct": 0.0}).replace(
        '"discount_pct": 0.0', f'"discount_pct": {literal}'
    )
    response = retail.post("/predict", content=text, headers={"content-type": "application/json"})
    error = assert_error(response, 422, "validation_error")
    # NaN is JSON's missing value here (refused: training had none); infinities are out of range.
    assert _fields(error) == {"discount_pct": "missing_value" if literal == "NaN" else "out_of_range"}


def test_null_only_where_training_saw_nulls(retail: Any) -> None:
    body = example_body(retail)
    assert retail.post("/predict", json={**body, "price": None}).status_code == 200  # price had NaNs
    error = assert_error(
        retail.post("/predict", json={**body, "discount_pct": None}), 422, "validation_error"
    )
    assert _fields(error) == {"discount_pct": "missing_value"}
    assert "missing" in error["fields"][0]["message"]


def test_empty_body(retail: Any) -> None:
    response = retail.post("/predict", content=b"", headers={"content-type": "application/json"})
    assert_error(response, 400, "empty_body")


def test_non_json_body(retail: Any) -> None:
    response = retail.post("/predict", content=b"{not json", headers={"content-type": "application/json"})
    error = assert_error(response, 400, "invalid_json")
    assert "character" in error["message"]


def test_json_sent_without_json_content_type(retail: Any) -> None:
    body = json.dumps(example_body(retail)).encode()
    response = retail.post("/predict", content=body, headers={"content-type": "text/plain"})
    assert_error(response, 415, "unsupported_media_type")


def test_a_list_where_an_object_is_expected(retail: Any) -> None:
    error = assert_error(retail.post("/predict", json=[example_body(retail)]), 422, "validation_error")
    assert error["fields"][0]["type"] == "model_attributes_type"


def test_huge_body_is_refused_before_parsing(retail: Any) -> None:
    big = {**example_body(retail), "store_id": "S" * 300_000}
    error = assert_error(retail.post("/predict", json=big), 413, "payload_too_large")
    assert "200000" in error["message"]


def test_a_body_larger_than_its_content_length_claims_is_still_cut(retail: Any) -> None:
    def chunks() -> Any:  # no Content-Length: streamed (chunked) body
        for _ in range(50):
            yield b" " * 10_000

    response = retail.post("/predict", content=chunks(), headers={"content-type": "application/json"})
    assert_error(response, 413, "payload_too_large")


def test_unicode_is_accepted_and_echoed(retail: Any) -> None:
    body = {**example_body(retail), "store_id": "Zürich-東京-🛒"}
    response = retail.post("/predict", json=body)
    assert response.status_code == 200, response.text
    assert response.json()["entities"]["store_id"] == "Zürich-東京-🛒"


def test_lone_surrogates_are_a_422_naming_the_field(retail: Any) -> None:
    body = {**example_body(retail), "store_id": "S-MARK"}
    text = json.dumps(body).replace('"S-MARK"', '"\\ud800"')
    response = retail.post("/predict", content=text, headers={"content-type": "application/json"})
    error = assert_error(response, 422, "validation_error")
    assert _fields(error) == {"store_id": "wrong_type"}


def test_timestamps_beyond_the_range_are_a_422_naming_the_field(retail: Any) -> None:
    body = {**example_body(retail), "week_start": "0001-01-01T00:00:00+03:04"}
    error = assert_error(retail.post("/predict", json=body), 422, "validation_error")
    assert _fields(error) == {"week_start": "out_of_range"}


def test_batch_errors_name_the_record(retail: Any) -> None:
    good = example_body(retail)
    bad = {**good, "stock_units": "many"}
    error = assert_error(
        retail.post("/predict/batch", json={"records": [good, good, bad]}), 422, "validation_error"
    )
    assert error["fields"][0]["field"] == "records.2.stock_units"
    assert error["fields"][0]["loc"] == ["records", 2, "stock_units"]


def test_empty_batch(retail: Any) -> None:
    error = assert_error(retail.post("/predict/batch", json={"records": []}), 422, "validation_error")
    assert error["fields"][0]["type"] == "too_short"


def test_ten_thousand_records_over_the_limit_is_413(serve: Any) -> None:
    with serve("diabetes", max_body_bytes=50_000_000) as client:
        body = example_body(client)
        error = assert_error(
            client.post("/predict/batch", json={"records": [body] * 10_000}), 413, "too_many_records"
        )
        assert "1000" in error["message"]


def test_ten_thousand_records_within_a_raised_limit_are_scored(serve: Any) -> None:
    with serve("diabetes", max_batch_records=10_000, max_body_bytes=50_000_000) as client:
        body = example_body(client)
        response = client.post("/predict/batch", json={"records": [body] * 10_000})
    assert response.status_code == 200, response.text[:500]
    predictions = response.json()["predictions"]
    assert len(predictions) == 10_000
    assert len({p["prediction"] for p in predictions}) == 1
