"""Load recipe and config files into typed models with located, one-line errors."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Generic, TypeVar

from pydantic import BaseModel, ValidationError

from mmp.core.errors import MmpError
from mmp.core.yamlio import LoadedYaml, load_yaml
from mmp.recipe.base import format_validation_error
from mmp.recipe.config import Config
from mmp.recipe.models import Recipe

M = TypeVar("M", bound=BaseModel)


@dataclass(frozen=True)
class Loaded(Generic[M]):
    """A validated model with the redacted tree it came from (safe to log or snapshot)."""

    model: M
    redacted: dict[str, Any]
    path: Path | None


def validate_data(model: type[M], data: Any, where: str, hint: str) -> M:
    """Validate a parsed YAML tree; every problem becomes one located line (`where: a.b: message`)."""
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise MmpError(format_validation_error(exc, where, model), hint) from None
    except ValueError as exc:  # raised outside a field (e.g. by an import during validation)
        raise MmpError(f"{where}: {exc}", hint) from None


def _validate(model: type[M], doc: LoadedYaml, what: str) -> Loaded[M]:
    parsed = validate_data(model, doc.data, str(doc.path), f"fix the {what} and run again")
    return Loaded(model=parsed, redacted=doc.redacted, path=doc.path)


def load_recipe(path: str | Path) -> Loaded[Recipe]:
    """Read and validate a recipe file."""
    return _validate(Recipe, load_yaml(path, what="recipe"), "recipe")


def load_config(path: str | Path | None) -> Loaded[Config]:
    """Read and validate a config file; without a path, the local defaults."""
    if path is None:
        default = Config()
        return Loaded(model=default, redacted=default.model_dump(mode="json"), path=None)
    return _validate(Config, load_yaml(path, what="config"), "config")
