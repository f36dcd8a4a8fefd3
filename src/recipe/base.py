"""The strict base model and the translation of pydantic errors into located one-line messages."""

from __future__ import annotations

import types
import typing
from typing import Any, Union

from pydantic import BaseModel, ConfigDict, ValidationError

from mmp.core.suggest import did_you_mean


class StrictModel(BaseModel):
    """Unknown keys are errors: a typo must never be silently ignored."""

    model_config = ConfigDict(extra="forbid", validate_default=True)


def _unwrap(annotation: Any) -> list[Any]:
    """The concrete types behind Optional/Union/Annotated/list/dict, for walking an error location."""
    origin = typing.get_origin(annotation)
    if origin is typing.Annotated:
        return _unwrap(typing.get_args(annotation)[0])
    if origin in (Union, types.UnionType):
        return [t for arg in typing.get_args(annotation) for t in _unwrap(arg)]
    return [annotation]


def _model_at(root: type[BaseModel], loc: tuple[int | str, ...]) -> type[BaseModel] | None:
    """The model class that owns the last key of `loc`, so a bad key can be compared to its siblings."""
    current: list[Any] = [root]
    for part in loc:
        following: list[Any] = []
        for candidate in current:
            origin = typing.get_origin(candidate)
            if isinstance(candidate, type) and issubclass(candidate, BaseModel):
                field = candidate.model_fields.get(str(part))
                if field is not None:
                    following.extend(_unwrap(field.annotation))
            elif origin in (list, tuple) and isinstance(part, int):
                following.extend(_unwrap(typing.get_args(candidate)[0]))
            elif origin is dict:
                following.extend(_unwrap(typing.get_args(candidate)[1]))
        current = following
    for candidate in current:
        if isinstance(candidate, type) and issubclass(candidate, BaseModel):
            return candidate
    return None


def _message(error: Any, root: type[BaseModel]) -> str:
    loc = tuple(p for p in error["loc"] if not (isinstance(p, str) and p.startswith("function-")))
    where = ".".join(str(p) for p in loc)
    if error["type"] == "extra_forbidden" and loc:
        owner = _model_at(root, loc[:-1])
        hint = did_you_mean(str(loc[-1]), owner.model_fields) if owner else ""
        return f"{where}: unknown key{hint}"
    msg = str(error["msg"])
    for internal in ("Value error, ", "Assertion failed, "):  # pydantic's wording for validators
        msg = msg.removeprefix(internal)
    if error["type"] in ("literal_error", "enum") and loc:
        given = error.get("input")
        expected = error.get("ctx", {}).get("expected", "")
        choices = [c.strip(" '") for c in expected.replace(" or ", ",").split(",") if c.strip(" '")]
        if isinstance(given, str):
            msg += did_you_mean(given, choices)
    # A model-level check names its own fields ("evaluation.metrics: ..."): no location to add.
    return f"{where}: {msg}" if where else msg


def format_validation_error(exc: ValidationError, source: str, root: type[BaseModel]) -> str:
    """Every pydantic error as `source: dotted.path: message`, one per line."""
    return "\n".join(f"{source}: {_message(err, root)}" for err in exc.errors())
