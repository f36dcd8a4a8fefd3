"""`mmp train`: parse options, call `mmp.pipelines.train.train`, print the result."""

from __future__ import annotations

from pathlib import Path

import typer

from mmp.cli.options import ConfigPath, DataPath, JsonOutput, RecipePath


def train(
    recipe_path: Path = RecipePath,
    config_path: Path | None = ConfigPath,
    data_path: str | None = DataPath,
    register_as: str | None = typer.Option(
        None, "--register-as", help="Register the model in the MLflow registry under this name."
    ),
    json_output: bool = JsonOutput,
) -> None:
    """Train the model a recipe describes and record it in MLflow (params, metrics, model, contract)."""
    from mmp.cli.console import RichProgress, print_json, print_table
    from mmp.pipelines.train import train as run_training
    from mmp.recipe.loader import load_config, load_recipe

    recipe = load_recipe(recipe_path)
    config = load_config(config_path)
    result = run_training(recipe, config, data_path, register_as, progress=RichProgress())
    if json_output:
        print_json(result.to_dict())
        return
    rows = [
        ("run id", result.run_id),
        ("model uri", result.model_uri),
        ("run model uri", result.run_model_uri),
        ("tracking uri", result.tracking_uri),
        (
            "rows (train/val/test)",
            "/".join(str(result.rows[k]) for k in ("train", "validation", "test")),
        ),
    ]
    if result.registered_model:
        rows.append(("registered", f"models:/{result.registered_model}/{result.registered_version}"))
    rows += [(name, f"{value:.4f}") for name, value in result.metrics.items()]
    rows.append(("time", f"{result.duration_s:.1f}s"))
    print_table(f"Trained {recipe.model.name}", rows)
