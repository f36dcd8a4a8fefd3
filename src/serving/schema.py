"""Request and response models generated from the feature contract.

The request model is the endpoint's parameter type, so FastAPI's OpenAPI, `/docs` and 422s all come
from it: every entity and model-input column with its real type, categorical levels as an enum,
nulls only where training saw them, unknown keys (and the target) rejected, examples taken from the
training data. Columns become aliases of safe internal field names, so a column may be called
`model_config`, `class` or `mean radius`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, PlainValidator, WithJsonSchema, create_model
from pydantic_core import PydanticCustomError

from mmp.core.conformance import ColumnRule, Refusal, convert
from mmp.core.contract import ColumnContract, FeatureContract
from mmp.core.contract import example_record as contract_example

if TYPE_CHECKING:
    import pandas as pd


class ModelRef(BaseModel):
    """Which model answered."""

    name: str
    version: str | None = Field(description="Registry version; null for a run or a local folder.")
    run_id: str | None


class ErrorField(BaseModel):
    """One invalid part of the request."""

    field: str = Field(description="Dotted path inside the body, e.g. `age` or `records.3.age`.")
    loc: list[str | int] = Field(description="The same path as a list, safe for any column name.")
    message: str
    type: str = Field(description="Machine-readable reason, e.g. `missing`, `extra_forbidden`, `float_type`.")


class ErrorBody(BaseModel):
    code: str = Field(description="Stable error code, e.g. `validation_error`, `unauthorized`, `timeout`.")
    message: str
    request_id: str = Field(description="Also in the X-Request-ID header; quote it when reporting a problem.")
    fields: list[ErrorField] = Field(default_factory=list)


class ErrorResponse(BaseModel):
    """The one shape of every error this API returns."""

    error: ErrorBody


@dataclass(frozen=True)
class Schemas:
    """The generated models for one contract, and how to read a validated record."""

    record: type[BaseModel]
    batch: type[BaseModel]
    prediction: type[BaseModel]
    response: type[BaseModel]
    batch_response: type[BaseModel]
    fields: tuple[tuple[str, str], ...]  # (internal field name, column name), in request order
    signature: tuple[Any, ...]

    def row(self, record: BaseModel) -> dict[str, Any]:
        """A validated record as {column: value}."""
        return {column: getattr(record, attr) for attr, column in self.fields}


def _camel(name: str) -> str:
    parts = re.split(r"[^0-9A-Za-z]+", name)
    text = "".join(p[:1].upper() + p[1:] for p in parts if p)
    return text if text and text[0].isalpha() else f"Model{text}"


def _validator(rule: ColumnRule) -> Any:
    """The column's `conformance.convert`, with refusals as pydantic errors (code = error type)."""

    def check(value: Any) -> Any:
        try:
            return convert(rule, value)
        except Refusal as exc:
            raise PydanticCustomError(exc.code, "{reason}", {"reason": exc.message}) from None

    return check


_JSON_TYPES: dict[str, dict[str, Any]] = {
    "integer": {"type": "integer", "format": "int64"},
    "number": {"type": "number"},
    "boolean": {"type": "boolean"},
    "string": {"type": "string"},
    "datetime": {"type": "string", "format": "date-time"},
}


def _json_schema(rule: ColumnRule) -> dict[str, Any]:
    """What a client should send (the canonical JSON type; `docs/serving.md` lists what else is read)."""
    schema: dict[str, Any] = dict(_JSON_TYPES[rule.kind])
    if rule.levels is not None:
        schema["enum"] = list(rule.levels)
    if rule.nullable:
        return {"anyOf": [schema, {"type": "null"}]}
    return schema


def _annotation(rule: ColumnRule) -> Any:
    return Annotated[
        Any,
        PlainValidator(_validator(rule)),
        WithJsonSchema(_json_schema(rule)),
    ]


def _describe(col: ColumnContract, rule: ColumnRule) -> str:
    role = {
        "entity": "Entity column: identifies the record and is echoed in the response, not a feature.",
        "feature": "Feature.",
        "timestamp": "Timestamp of the record (ISO 8601); the model derives calendar features from it.",
        "target": "",
    }[col.role]
    parts = [role]
    if rule.kind == "boolean":
        pass  # two levels by nature; the spellings it accepts are in docs/input-rules.md
    elif rule.levels is not None:
        parts.append("One of the levels seen in training (others are refused).")
    elif col.categorical and col.categories and not col.categories_truncated:
        parts.append(f"Categorical, {len(col.categories)} levels seen in training; others are accepted.")
    elif col.categorical and col.categories_truncated:
        parts.append(f"Categorical; training saw more than {len(col.categories or [])} levels.")
    if col.min is not None and col.max is not None:
        parts.append(f"Training range: {col.min:g} to {col.max:g}.")
    parts.append("May be null (training saw missing values)." if col.nullable else "Never null.")
    return " ".join(p for p in parts if p)


def example_record(contract: FeatureContract, input_example: pd.DataFrame | None = None) -> dict[str, Any]:
    """One request body made up from the contract's types and ranges (`input_example` is ignored:
    no training row is ever published in the API's documentation)."""
    return contract_example(contract)


def _prediction_type(contract: FeatureContract) -> Any:
    if contract.task == "classification" and contract.classes:
        return Literal[tuple(contract.classes)]
    if contract.task == "clustering":
        return int
    return float


def build_schemas(
    contract: FeatureContract, input_example: pd.DataFrame | None, max_batch_records: int
) -> Schemas:
    """All request and response models for one contract."""
    base = _camel(contract.name)
    example = example_record(contract)
    fields: dict[str, Any] = {}
    mapping: list[tuple[str, str]] = []
    entity_fields: dict[str, Any] = {}
    signature: list[Any] = [contract.task, tuple(contract.classes or ())]
    for i, name in enumerate(contract.request_columns):
        col = contract.column(name)
        rule = col.rule()
        annotation = _annotation(rule)
        examples = [example[name]] if example.get(name) is not None else None
        info = Field(alias=name, title=name, description=_describe(col, rule), examples=examples)
        fields[f"f{i}"] = (annotation, info)
        mapping.append((f"f{i}", name))
        if col.role == "entity":
            entity_fields[f"f{i}"] = (annotation, Field(alias=name, title=name))
        signature.append(
            (
                name,
                col.role,
                col.dtype,
                col.nullable,
                tuple(col.categories or ()) if col.categorical else None,
                rule,
            )
        )
    record = create_model(
        f"{base}Record",
        __config__=ConfigDict(
            extra="forbid",
            serialize_by_alias=True,
            json_schema_extra={"examples": [example]},
            title=f"{base}Record",
        ),
        __doc__=f"One record for the {contract.name} model ({contract.task}). "
        f"Send every column below; unknown columns and the target `{contract.target_column}` are rejected.",
        **fields,
    )
    batch = create_model(
        f"{base}BatchRequest",
        __config__=ConfigDict(
            extra="forbid",
            json_schema_extra={"examples": [{"records": [example]}]},
            title=f"{base}BatchRequest",
        ),
        __doc__=f"Up to {max_batch_records} records, scored in one call; results come back in order.",
        records=(list[record], Field(min_length=1, max_length=max_batch_records)),  # type: ignore[valid-type]
    )
    pred_fields: dict[str, Any] = {
        "prediction": (_prediction_type(contract), Field(description=_prediction_doc(contract))),
    }
    if contract.task == "classification":
        pred_fields["probabilities"] = (
            dict[str, float],
            Field(description="Probability of each class, keyed by the class label as text."),
        )
    if entity_fields:
        entities = create_model(
            f"{base}Entities",
            __config__=ConfigDict(serialize_by_alias=True, title=f"{base}Entities"),
            __doc__="The request's entity columns, echoed.",
            **entity_fields,
        )
        pred_fields["entities"] = (entities, Field(description="The request's entity columns, echoed."))
    prediction = create_model(
        f"{base}Prediction", __doc__="The model's answer for one record.", **pred_fields
    )
    response = create_model(
        f"{base}Response",
        __doc__="The model's answer for one record, and which model gave it.",
        __base__=prediction,
        model=(ModelRef, ...),
    )
    batch_response = create_model(
        f"{base}BatchResponse",
        __doc__="One prediction per record, in request order, and which model gave them.",
        predictions=(list[prediction], ...),  # type: ignore[valid-type]
        model=(ModelRef, ...),
    )
    return Schemas(record, batch, prediction, response, batch_response, tuple(mapping), tuple(signature))


def _prediction_doc(contract: FeatureContract) -> str:
    if contract.task == "classification":
        return "The predicted class."
    if contract.task == "clustering":
        return "The cluster number."
    return f"The predicted {contract.target_column or 'value'}."
