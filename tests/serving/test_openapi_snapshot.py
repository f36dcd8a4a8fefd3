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
    # The recipe's encoder ignores unseen levels, so no surface refuses them: no enum.
    assert "enum" not in props["category"] and "others are accepted" in props["category"]["description"]
    assert props["price"]["anyOf"] == [{"type": "number"}, {"type": "null"}]  # training saw NaN prices
    assert props["discount_pct"]["type"] == "number"  # and no nulls here
    assert props["stock_units"] == {**props["stock_units"], "type": "integer", "format": "int64"}
    assert props["on_promotion"]["type"] == "boolean"
    assert props["week_start"]["format"] == "date-time"  # the timestamp, for a time-series model
    assert record["examples"][0]["category"] == "beverages"  # a level of the categorical


def test_examples_are_made_up_never_a_training_row(serve: Any, trained: Any) -> None:
    import pandas as pd

    with serve("retail_sell_through") as client:
        schemas = client.get("/openapi.json").json()["components"]["schemas"]
    example = schemas["RetailSellThroughRecord"]["examples"][0]
    data = pd.read_csv(trained["retail_sell_through"].data_path)
    assert example["store_id"] not in set(data["store_id"]) and example["sku"] not in set(data["sku"])
    for column in ("price", "discount_pct", "stock_units"):  # typical values: inside the training range
        assert data[column].min() <= example[column] <= data[column].max()


def test_no_timestamp_for_a_model_that_is_not_a_time_series(serve: Any) -> None:
    with serve("diabetes") as client:
        record = client.get("/openapi.json").json()["components"]["schemas"]["DiabetesRecord"]
    assert "disease_progression" not in record["properties"]
    assert "enum" not in record["properties"]["sex"]
    assert record["properties"]["patient_id"]["type"] == "integer"
