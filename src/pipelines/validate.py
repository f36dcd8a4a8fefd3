"""`mmp validate` as a function: schema checks, then every check that needs the data."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mmp.pipelines.prepare import prepare
from mmp.recipe.loader import load_config, load_recipe

if TYPE_CHECKING:
    from mmp.recipe.config import Config
    from mmp.recipe.models import Recipe


@dataclass
class ValidationReport:
    """What a valid recipe resolves to: the user sees exactly what training will use."""

    recipe: str
    task: str
    estimator: str
    source: str
    rows: int
    split: dict[str, int]
    entity_columns: list[str]
    target_column: str | None
    timestamp_column: str | None
    numeric_columns: list[str]
    categorical_columns: list[str]
    metrics: list[str]

    def to_dict(self) -> dict[str, Any]:
        return {"valid": True, **asdict(self)}

    def table_rows(self) -> list[tuple[str, str]]:
        return [
            ("task", self.task),
            ("estimator", self.estimator),
            ("data", f"{self.source} ({self.rows} rows)"),
            ("split train/val/test", "/".join(str(v) for v in self.split.values())),
            ("entity", ", ".join(self.entity_columns) or "-"),
            ("target", self.target_column or "-"),
            ("timestamp", self.timestamp_column or "-"),
            ("numeric features", _short(self.numeric_columns)),
            ("categorical features", _short(self.categorical_columns)),
            ("metrics", ", ".join(self.metrics)),
        ]


def _short(names: list[str], limit: int = 8) -> str:
    if not names:
        return "-"
    more = f" (+{len(names) - limit} more)" if len(names) > limit else ""
    return ", ".join(names[:limit]) + more


def validate_recipe(
    recipe_path: str | Path, config_path: str | Path | None = None, data_path: str | None = None
) -> ValidationReport:
    """Raise MmpError on the first problem; return what training would use otherwise."""
    return validate_loaded(load_recipe(recipe_path).model, load_config(config_path).model, data_path)


def validate_loaded(recipe: Recipe, config: Config, data_path: str | None = None) -> ValidationReport:
    """`validate_recipe` for a recipe already in memory (e.g. a proposal not yet written)."""
    prepared = prepare(recipe, config, data_path)
    return ValidationReport(
        recipe=recipe.name,
        task=recipe.task,
        estimator=recipe.model.class_path,
        source=prepared.source,
        rows=len(prepared.frame),
        split={k: len(v) for k, v in prepared.splits.named().items()},
        entity_columns=prepared.columns.entity,
        target_column=prepared.columns.target,
        timestamp_column=prepared.columns.timestamp,
        numeric_columns=prepared.columns.numeric,
        categorical_columns=prepared.columns.categorical,
        metrics=recipe.metric_names,
    )
