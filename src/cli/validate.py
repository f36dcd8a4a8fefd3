"""`mmp validate`: every check a recipe can fail, before any training starts."""

from __future__ import annotations

from pathlib import Path

from mmp.cli.options import ConfigPath, DataPath, JsonOutput, RecipePath


def validate(
    recipe_path: Path = RecipePath,
    config_path: Path | None = ConfigPath,
    data_path: str | None = DataPath,
    json_output: bool = JsonOutput,
) -> None:
    """Check a recipe (and config) against the schema and the data: exit 0 if it would train."""
    from mmp.cli.console import print_json, print_table
    from mmp.pipelines.validate import validate_recipe

    report = validate_recipe(recipe_path, config_path, data_path)
    if json_output:
        print_json(report.to_dict())
        return
    print_table(f"✓ {recipe_path} is valid", report.table_rows())
