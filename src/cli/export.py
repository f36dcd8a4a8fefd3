"""`mmp export-model`: copy a model to a self-contained folder, then prove the copy loads."""

from __future__ import annotations

from pathlib import Path

import typer

from mmp.cli.options import ConfigPath, JsonOutput, ModelUri, RunId


def export_model(
    run_id: str | None = RunId,
    model_uri: str | None = ModelUri,
    output: Path = typer.Option(
        ...,
        "--output",
        "-o",
        help="Folder to write, e.g. model/ for `docker build` (refused if it is not empty, unless --force).",
        show_default=False,
    ),
    force: bool = typer.Option(False, "--force", help="Replace a non-empty output folder."),
    config_path: Path | None = ConfigPath,
    json_output: bool = JsonOutput,
) -> None:
    """Export a model with its feature contract to a folder that loads without a tracking server."""
    from mmp.cli.console import print_json, print_table
    from mmp.core import model_store
    from mmp.core.model_ref import ModelRef
    from mmp.recipe.loader import load_config

    ref = ModelRef.from_options(run_id, model_uri)
    uri = ref.uri
    store = load_config(config_path).model.mlflow.store()
    folder = model_store.export_model(ref, output, store, force=force)
    # The copy must load on its own, or the export failed.
    loaded = model_store.load_model(str(folder.resolve()), store)
    size = sum(f.stat().st_size for f in folder.rglob("*") if f.is_file())
    summary = {
        "output": str(folder),
        "source": uri,
        "recipe": loaded.contract.name,
        "name": loaded.identity.name,
        "version": loaded.identity.version,
        "task": loaded.contract.task,
        "run_id": loaded.identity.run_id,
        "request_columns": loaded.contract.request_columns,
        "size_bytes": size,
    }
    if json_output:
        print_json(summary)
        return
    print_table(
        f"Exported {uri} to {folder}",
        [
            ("recipe", str(summary["recipe"])),
            ("model", f"{summary['name']}" + (f" v{summary['version']}" if summary["version"] else "")),
            ("task", str(summary["task"])),
            ("run id", str(summary["run_id"])),
            ("request columns", ", ".join(loaded.contract.request_columns)),
            ("size", f"{size / 1e6:.1f} MB"),
            ("serve it", f"mmp serve-api --model-uri {folder}"),
        ],
    )
