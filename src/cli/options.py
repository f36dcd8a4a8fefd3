"""Options shared by several commands, so their names and help read the same everywhere."""

from __future__ import annotations

from pathlib import Path

import typer

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

__all__ = ["ConfigPath", "DataPath", "JsonOutput", "Path", "RecipePath"]
