"""Options shared by several commands, so their names and help read the same everywhere."""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path

import typer


class Engine(StrEnum):
    """Where batch-inference and monitor run: here (streaming) or on Spark."""

    local = "local"
    spark = "spark"


RecipePath = typer.Option(
    ...,
    "--recipe-path",
    "-r",
    envvar="MMP_RECIPE_PATH",
    help="Recipe YAML: what to train.",
    show_default=False,
)
ConfigPath = typer.Option(
    None,
    "--config-path",
    "-c",
    envvar="MMP_CONFIG_PATH",
    help="Config YAML: where to run. Default: local SQLite MLflow store (sqlite:///mlruns.db).",
    show_default=False,
)
DataPath = typer.Option(
    None,
    "--data-path",
    "-d",
    envvar="MMP_DATA_PATH",
    help="Override the recipe's data.source: CSV, Parquet file or directory, or a .sql query.",
    show_default=False,
)
JsonOutput = typer.Option(False, "--json", help="Print a machine-readable JSON result on stdout.")
RunId = typer.Option(
    None,
    "--run-id",
    envvar="MMP_RUN_ID",
    help="The model logged by this MLflow run (same as --model-uri runs:/RUN/model).",
    show_default=False,
)
ModelUri = typer.Option(
    None,
    "--model-uri",
    "-m",
    envvar="MMP_MODEL_URI",
    help="runs:/RUN/model, models:/NAME/VERSION, models:/NAME@ALIAS, models:/NAME/latest, "
    "models:/m-ID, or a folder made by mmp export-model.",
    show_default=False,
)

__all__ = ["ConfigPath", "DataPath", "JsonOutput", "ModelUri", "Path", "RecipePath", "RunId"]
