"""Request and response models generated from the feature contract.

The request model is the endpoint's parameter type, so FastAPI's OpenAPI, `/docs` and 422s all come
from it: every entity and model-input column with its real type, categorical levels as an enum,
nulls only where training saw them, unknown keys (and the target) rejected, examples taken from the
training data. Columns become aliases of safe internal field names, so a column may be called
`model_config`, `class` or `mean radius`.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import TYPE_CHECKING, Annotated, Any, Literal

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PlainValidator,
    WithJsonSchema,
    create_model,
)
from pydantic_core import PydanticCustomError

from mmp.core.contract import ColumnContract, FeatureContract

if TYPE_CHECKING:
    import pandas as pd

INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1


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


def _no_bool(value: Any) -> Any:
    if isinstance(value, bool):
        raise PydanticCustomError("bool_not_allowed", "Input should be a number, not a boolean")
    return value


def _whole_number(value: Any) -> Any:
    if isinstance(value, bool) or (isinstance(value, float) and not value.is_integer()):
        raise PydanticCustomError("int_type", "Input should be a valid integer")
    return value


def _datetime_validator(aware: bool) -> Any:
    def parse(value: Any) -> datetime:
        if isinstance(value, datetime):
            parsed = value
        elif isinstance(value, date):
            parsed = datetime(value.year, value.month, value.day)
        elif isinstance(value, str):
            try:
                parsed = datetime.fromisoformat(value)
            except ValueError:
                raise PydanticCustomError(
                    "datetime_parsing",
                    "Input should be an ISO 8601 date or date-time, e.g. 2024-01-31 or 2024-01-31T12:00:00",
                ) from None
        else:
            raise PydanticCustomError("datetime_type", "Input should be an ISO 8601 date or date-time string")
        if aware:
            return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
        # Training saw naive timestamps: an aware one is compared in UTC.
        return parsed.astimezone(UTC).replace(tzinfo=None) if parsed.tzinfo else parsed

    return parse


def _base_type(col: ColumnContract) -> Any:
    """The Python/pydantic type of one column's values (without null)."""
    levels = col.categories if col.categorical and not col.categories_truncated else None
    if levels and col.dtype in ("string", "integer", "number"):
        choice = Literal[tuple(levels)]  # type: ignore[valid-type]
        if col.dtype == "string":
            return choice
        guard = _whole_number if col.dtype == "integer" else _no_bool
        return Annotated[choice, BeforeValidator(guard)]
    if col.dtype == "integer":
        # Bounded to int64 (what pandas holds); shown as format int64 rather than as two 19-digit
        # bounds that JSON tooling would round to floats.
        return Annotated[
            int,
            Field(strict=True, ge=INT64_MIN, le=INT64_MAX),
            WithJsonSchema({"type": "integer", "format": "int64"}),
        ]
    if col.dtype == "number":
        return Annotated[float, Field(strict=True, allow_inf_nan=False)]
    if col.dtype == "boolean":
        return Annotated[bool, Field(strict=True)]
    if col.dtype == "datetime":
        aware = "," in col.pandas_dtype or "UTC" in col.pandas_dtype
        return Annotated[
            datetime,
            PlainValidator(_datetime_validator(aware), json_schema_input_type=str),
            WithJsonSchema({"type": "string", "format": "date-time"}),
        ]
    return Annotated[str, Field(strict=True)]


def _describe(col: ColumnContract) -> str:
    role = {
        "entity": "Entity column: identifies the record and is echoed in the response, not a feature.",
        "feature": "Feature.",
        "timestamp": "Timestamp of the record (ISO 8601); the model derives calendar features from it.",
        "target": "",
    }[col.role]
    parts = [role]
    if col.categorical and col.categories and not col.categories_truncated:
        parts.append("One of the levels seen in training.")
    elif col.categorical and col.categories_truncated:
        parts.append(f"Categorical; training saw more than {len(col.categories or [])} levels.")
    if col.min is not None and col.max is not None:
        parts.append(f"Training range: {col.min:g} to {col.max:g}.")
    parts.append("May be null (training saw missing values)." if col.nullable else "Never null.")
    return " ".join(p for p in parts if p)


def _json_value(value: Any) -> Any:
    """A JSON-ready scalar from a pandas/numpy value (None for missing)."""
    if value is None:
        return None
    if hasattr(value, "isoformat"):
        try:
            if value != value:  # NaT
                return None
        except (TypeError, ValueError):
            pass
        return value.isoformat()
    if hasattr(value, "item"):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def example_record(contract: FeatureContract, input_example: pd.DataFrame | None) -> dict[str, Any]:
    """One realistic request body: the first input-example row, entities from the contract."""
    row: dict[str, Any] = {}
    first = input_example.iloc[0] if input_example is not None and len(input_example) else None
    for name in contract.request_columns:
        col = contract.column(name)
        value = col.example
        if first is not None and name in first.index:
            candidate = _json_value(first[name])
            if candidate is not None or col.nullable:
                value = candidate
        if col.dtype == "datetime" and isinstance(value, str):
            value = value.replace(" ", "T")
        if col.dtype == "number" and isinstance(value, int) and not isinstance(value, bool):
            value = float(value)
        row[name] = value
    return row


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
    example = example_record(contract, input_example)
    fields: dict[str, Any] = {}
    mapping: list[tuple[str, str]] = []
    entity_fields: dict[str, Any] = {}
    signature: list[Any] = [contract.task, tuple(contract.classes or ())]
    for i, name in enumerate(contract.request_columns):
        col = contract.column(name)
        annotation = _base_type(col)
        if col.nullable:
            annotation = annotation | None
        examples = [example[name]] if example.get(name) is not None else None
        info = Field(alias=name, title=name, description=_describe(col), examples=examples)
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
