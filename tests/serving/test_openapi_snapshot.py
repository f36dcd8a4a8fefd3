"""What client generators and /docs consume: the OpenAPI document for a fixture recipe.

Update after an intended change with `pytest tests/serving/test_openapi_snapshot.py --inline-snapshot=fix`
and review the diff of the JSON file.
"""

from __future__ import annotations

from typing import Any

from inline_snapshot import external_file


def test_openapi_for_the_retail_example(serve: Any) -> None:
    with serve("retail_sell_through") as client:
        schema = client.get("/openapi.json").json()
    schema["info"]["version"] = "<mmp version>"
    assert schema == external_file("snapshots/openapi_retail_sell_through.json")


def test_the_request_schema_says_what_the_contract_says(serve: Any) -> None:
    with serve("retail_sell_through") as client:
        schemas = client.get("/openapi.json").json()["components"]["schemas"]
    record = schemas["RetailSellThroughRecord"]
    props = record["properties"]
    assert record["additionalProperties"] is False
    assert "units_sold" not in props  # never the target
    assert set(record["required"]) == set(props)
    assert props["category"]["enum"] == ["beverages", "dairy", "household", "produce", "snacks"]
    assert props["price"]["anyOf"] == [{"type": "number"}, {"type": "null"}]  # training saw NaN prices
    assert props["discount_pct"]["type"] == "number"  # and no nulls here
    assert props["stock_units"] == {**props["stock_units"], "type": "integer", "format": "int64"}
    assert props["on_promotion"]["type"] == "boolean"
    assert props["week_start"]["format"] == "date-time"  # the timestamp, for a time-series model
    assert props["store_id"]["examples"] == ["S00"]
    assert record["examples"][0]["category"] in props["category"]["enum"]


def test_no_timestamp_for_a_model_that_is_not_a_time_series(serve: Any) -> None:
    with serve("diabetes") as client:
        record = client.get("/openapi.json").json()["components"]["schemas"]["DiabetesRecord"]
    assert "disease_progression" not in record["properties"]
    assert record["properties"]["sex"]["enum"] == [1.0, 2.0]
    assert record["properties"]["patient_id"]["type"] == "integer"
