"""The example each `mmp init --task` starts from: a recipe template and the sample data it trains on.

Kept as data so the prompt, the renderer and the tests agree on one list. Each example's files live
in the template tree (`recipes/<task>.yaml.jinja`, `data/<file>.csv`); only the chosen task's files
are written into a project.
"""

from __future__ import annotations

import csv
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mmp.core.tasks import Task


@dataclass(frozen=True)
class TaskExample:
    """One task's example recipe and sample data."""

    task: Task
    recipe_name: str
    summary: str  # one line for prompts and the project README
    data_file: str  # file name under data/
    target: str | None
    entity_columns: tuple[str, ...]

    @property
    def recipe_template(self) -> str:
        return f"recipes/{self.task}.yaml.jinja"

    @property
    def recipe_path(self) -> str:
        return f"recipes/{self.recipe_name}.yaml"

    @property
    def data_path(self) -> str:
        return f"data/{self.data_file}"

    def files(self) -> dict[str, str]:
        """Template path -> project path for the files only this example brings."""
        return {self.recipe_template: self.recipe_path, self.data_path: self.data_path}


EXAMPLES: dict[str, TaskExample] = {
    Task.classification: TaskExample(
        task=Task.classification,
        recipe_name="breast_cancer",
        summary="is a tumour benign or malignant? (random forest, scikit-learn's breast-cancer set)",
        data_file="breast_cancer.csv",
        target="diagnosis",
        entity_columns=("patient_id",),
    ),
    Task.regression: TaskExample(
        task=Task.regression,
        recipe_name="diabetes",
        summary="disease progression after one year (gradient boosting, scikit-learn's diabetes set)",
        data_file="diabetes.csv",
        target="disease_progression",
        entity_columns=("patient_id",),
    ),
    Task.timeseries: TaskExample(
        task=Task.timeseries,
        recipe_name="retail_sell_through",
        summary="weekly units sold per store and SKU (temporal split, calendar features)",
        data_file="retail_sell_through.csv",
        target="units_sold",
        entity_columns=("store_id", "sku"),
    ),
    Task.clustering: TaskExample(
        task=Task.clustering,
        recipe_name="cell_segments",
        summary="group tumour cell measurements into segments (k-means, no target)",
        data_file="cell_measurements.csv",
        target=None,
        entity_columns=("patient_id",),
    ),
}


def per_task_templates() -> set[str]:
    """Every template path that belongs to one example (skipped unless that example is chosen)."""
    return {path for example in EXAMPLES.values() for path in example.files()}


def sample_record(csv_path: Path, target: str | None) -> dict[str, Any]:
    """The first complete row of a sample CSV without its target: a real request body for the docs.

    Read with the csv module (no pandas) so `mmp init` stays fast; numbers and booleans get their
    JSON types back.
    """
    with csv_path.open(newline="", encoding="utf-8") as handle:
        for row in csv.DictReader(handle):
            if all(value != "" for value in row.values()):
                return {name: _scalar(value) for name, value in row.items() if name != target}
    raise ValueError(f"{csv_path} has no complete row")


def _scalar(text: str) -> Any:
    if text in ("True", "False", "true", "false"):
        return text.lower() == "true"
    try:
        return json.loads(text) if text.lstrip("-").replace(".", "", 1).isdigit() else text
    except json.JSONDecodeError:
        return text
