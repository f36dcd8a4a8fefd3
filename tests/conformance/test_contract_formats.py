"""Contracts written before format 2 still load, and their columns get the rules they always meant."""

from __future__ import annotations

import json

from mmp.core.contract import CONTRACT_FORMAT, FeatureContract, example_record

FORMAT_1 = {
    "format_version": 1,
    "name": "old",
    "task": "classification",
    "target_column": "label",
    "classes": [0, 1],
    "columns": [
        {
            "name": "id",
            "role": "entity",
            "dtype": "string",
            "pandas_dtype": "object",
            "nullable": False,
            "example": "C0001",
        },
        # format 1 recorded a boolean with missing values as text with boolean levels
        {
            "name": "member",
            "role": "feature",
            "dtype": "string",
            "pandas_dtype": "object",
            "nullable": True,
            "categorical": True,
            "categories": [False, True],
            "example": True,
        },
        {
            "name": "visits",
            "role": "feature",
            "dtype": "number",
            "pandas_dtype": "float64",
            "nullable": True,
            "min": 0.0,
            "max": 19.0,
            "example": 4.0,
        },
        {
            "name": "label",
            "role": "target",
            "dtype": "integer",
            "pandas_dtype": "int64",
            "nullable": False,
            "categorical": True,
            "categories": [0, 1],
            "example": 0,
        },
    ],
    "model_input_columns": ["member", "visits"],
}


def test_a_format_1_contract_loads_and_reads_booleans_as_booleans() -> None:
    contract = FeatureContract.from_json(json.dumps(FORMAT_1))
    member = contract.column("member").rule()
    assert member.kind == "boolean" and member.nullable and member.levels is None
    assert contract.column("visits").rule().kind == "number"
    assert CONTRACT_FORMAT == 2 and FeatureContract(**{**FORMAT_1, "format_version": 2}).format_version == 2


def test_examples_never_come_from_the_stored_training_value() -> None:
    contract = FeatureContract.from_json(json.dumps(FORMAT_1))
    record = example_record(contract)
    assert record["id"] != "C0001" and record["visits"] == 9.5 and record["member"] is False


def test_a_stored_training_value_is_never_shown_again() -> None:
    contract = FeatureContract.from_json(json.dumps(FORMAT_1))
    assert "C0001" not in contract.to_json()
    assert "example" not in contract.model_dump(mode="json")["columns"][0]
