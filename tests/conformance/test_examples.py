"""Every example recipe passes the cross-surface test: real rows of its data, and real rows with one
column made missing, oddly spelled or of the wrong type, give the same outcome in process, through
`/predict`, `/predict/batch` (alone and together), batch-inference from CSV and the logged model
without mmp."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.conformance import surfaces
from tests.conftest import DATA, EXAMPLES, RECIPES, TrainedExample


def _mutations(contract: Any, row: dict[str, Any], column: str) -> list[Any]:
    """Values of each kind for one column: missing, odd spellings, wrong type, out of range."""
    dtype = contract.column(column).dtype
    value = row[column]
    if dtype in ("integer", "number"):
        return [None, f" {value} ", "NA", "twelve", True, float("inf"), "1e999"]
    if dtype == "boolean":
        return [None, "yes" if value else "no", 1 if value else 0, 2, "maybe"]
    if dtype == "datetime":
        return [None, f"{str(value)[:10]}T00:00:00+00:00", "31/01/2024", "0001-01-01T00:00:00+03:04"]
    return [None, "", "never-seen-level", 7, "\ud800"]


def _records(data_path: Path, loaded: Any) -> list[dict[str, Any]]:
    """12 real rows as they are, then every mutation of every chosen column once, each applied to
    the next real row in turn: every kind of outcome on every chosen column, every row mutated.

    (Each mutation is not crossed with all 12 rows: its verdict depends on the value alone, and the
    reference is one `pipeline.predict` per record, so the cross product cost ~9x the time to check
    the same rules.)"""
    import pandas as pd

    contract = loaded.contract
    frame = pd.read_csv(data_path).head(12)
    plain_rows = [
        {k: (None if isinstance(v, float) and v != v else v) for k, v in row.items()}
        for row in frame[contract.request_columns].astype(object).to_dict("records")
    ]
    rows = [dict(row) for row in plain_rows]
    turn = 0
    for column in contract.model_input_columns[:: max(1, len(contract.model_input_columns) // 4)]:
        for j in range(len(_mutations(contract, plain_rows[0], column))):
            plain = plain_rows[turn % len(plain_rows)]
            turn += 1
            rows.append({**plain, column: _mutations(contract, plain, column)[j]})
    key = contract.entity_columns[0]
    for n, row in enumerate(rows):  # a unique entity per record, to match outputs to inputs
        row[key] = f"k{n}" if contract.column(key).dtype == "string" else n
    return rows


def assert_conformant(
    loaded: Any,
    data_path: Path,
    model_uri: str,
    config: Any,
    tracking_uri: str,
    tmp_path: Path,
    pyfunc_scorer: surfaces.PyfuncScorer,
) -> None:
    """Rows of the model's data and their mutations: identical outcomes on every surface."""
    from fastapi.testclient import TestClient

    from mmp.pipelines.batch import BatchJob, run_batch
    from mmp.serving.app import create_app
    from mmp.serving.settings import ServeSettings

    contract = loaded.contract
    records = _records(data_path, loaded)
    classes = contract.classes
    expected = surfaces.in_process(loaded, records)
    assert sum(o[0] == "ok" for o in expected) >= 12 and sum(o[0] == "refused" for o in expected) >= 12

    settings = ServeSettings(model_uri=model_uri, tracking_uri=tracking_uri)
    with TestClient(create_app(settings, loaded=loaded), raise_server_exceptions=False) as client:
        surfaces.same(expected, surfaces.predict_one(client, records, classes), records, "/predict")
        surfaces.same(expected, surfaces.predict_batch(client, records, classes), records, "/predict/batch")
        accepted = [(r, o) for r, o in zip(records, expected, strict=True) if o[0] == "ok"]
        together = surfaces.predict_batch_together(client, [r for r, _ in accepted], classes)
        surfaces.same([o for _, o in accepted], together, [r for r, _ in accepted], "/predict/batch (one)")

    def run(source: Path, output: Path, **options: Any) -> Any:
        job = BatchJob(model_uri=model_uri, data_path=str(source), output_path=str(output), **options)
        return run_batch(job, config)

    key = contract.entity_columns[0]
    in_csv = [
        (r, o)
        for r, o in zip(records, expected, strict=True)
        if not any(isinstance(v, str) and "\ud800" in v for v in r.values())
        and not any(
            contract.column(c).dtype == "string" and not (v is None or isinstance(v, str))
            for c, v in r.items()
        )
    ]
    csv_records = [r for r, _ in in_csv]
    source = tmp_path / "cases.csv"
    surfaces.write_csv(source, csv_records)
    probabilities = contract.task == "classification"
    got = surfaces.batch_file(run, source, csv_records, key, classes, probabilities=probabilities)
    surfaces.same([o for _, o in in_csv], got, csv_records, "batch-inference (CSV)")

    pyfunc, _ = pyfunc_scorer(loaded.path, records, tmp_path)
    surfaces.same([(o[0], o[1], None) if o[0] == "ok" else o for o in expected], pyfunc, records, "pyfunc")


@pytest.mark.parametrize("name", EXAMPLES)
def test_example_recipe_is_conformant_on_every_surface(
    name: str,
    trained: dict[str, TrainedExample],
    session_store: tuple[str, Path],
    tmp_path: Path,
    pyfunc_scorer: surfaces.PyfuncScorer,
) -> None:
    from mmp.core.model_store import load_model
    from mmp.recipe.loader import load_config

    example = trained[name]
    loaded = load_model(example.registered_uri, example.tracking_uri)
    config = load_config(session_store[1]).model
    assert_conformant(
        loaded,
        example.data_path,
        example.registered_uri,
        config,
        example.tracking_uri,
        tmp_path,
        pyfunc_scorer,
    )


# The recipes `mmp init --task T` writes for these tasks are the example recipes (same model,
# preprocessing, split and seed; only their metadata differs) with the same sample data, so the test
# above covers them and test_generated_recipes_are_the_example_recipes keeps that true. Clustering's
# example exists only in projects.
GENERATED_AS_EXAMPLE = {
    "classification": "breast_cancer",
    "regression": "diabetes",
    "timeseries": "retail_sell_through",
}


def _generated_recipe(task: str, folder: Path) -> tuple[Path, Path]:
    """The recipe `mmp init --task TASK` writes and the sample data it ships, copied into `folder`."""
    import shutil

    from mmp.scaffold.examples import EXAMPLES as PROJECT_EXAMPLES
    from mmp.scaffold.names import project_names
    from mmp.scaffold.project import project_context
    from mmp.scaffold.render import TEMPLATE_ROOT, render_template

    example = PROJECT_EXAMPLES[task]
    text = render_template(example.recipe_template, project_context(project_names("demo"), example, "0.1.0"))
    recipe_path = folder / "recipe.yaml"
    recipe_path.write_text(text, encoding="utf-8")
    data_path = folder / example.data_file
    shutil.copy(TEMPLATE_ROOT / example.data_path, data_path)
    return recipe_path, data_path


@pytest.mark.parametrize(("task", "name"), sorted(GENERATED_AS_EXAMPLE.items()))
def test_generated_recipes_are_the_example_recipes(task: str, name: str, tmp_path: Path) -> None:
    """Everything that shapes the trained pipeline is equal; only the metadata differs."""
    from mmp.recipe.loader import load_recipe

    recipe_path, data_path = _generated_recipe(task, tmp_path)
    generated, example = load_recipe(recipe_path).model, load_recipe(RECIPES / f"{name}.yaml").model
    assert generated.model_dump(exclude={"metadata"}) == example.model_dump(exclude={"metadata"})
    assert data_path.read_bytes() == (DATA / f"{name}.csv").read_bytes()


@pytest.mark.slow
@pytest.mark.parametrize("task", ["clustering"])
def test_generated_project_recipe_is_conformant_on_every_surface(
    task: str, tmp_path: Path, mlflow_store: tuple[str, Path], pyfunc_scorer: surfaces.PyfuncScorer
) -> None:
    """The recipe `mmp init --task TASK` writes, trained on the sample data it ships with."""
    from mmp.core.model_store import load_model
    from mmp.pipelines.train import train
    from mmp.recipe.loader import load_config, load_recipe

    assert task not in GENERATED_AS_EXAMPLE
    recipe_path, data_path = _generated_recipe(task, tmp_path)
    uri, config_path = mlflow_store
    result = train(
        load_recipe(recipe_path), load_config(config_path), str(data_path), register_as=f"gen_{task}"
    )
    model_uri = f"models:/gen_{task}/{result.registered_version}"
    loaded = load_model(model_uri, uri)
    config = load_config(config_path).model
    assert_conformant(loaded, data_path, model_uri, config, uri, tmp_path, pyfunc_scorer)
