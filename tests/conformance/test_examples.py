"""Every example recipe passes the cross-surface test: real rows of its data, and each row with one
column made missing, oddly spelled or of the wrong type, give the same outcome in process, through
`/predict`, `/predict/batch`, batch-inference from CSV and the logged model without mmp."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.conformance import surfaces
from tests.conftest import EXAMPLES, TrainedExample


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


def _records(example: TrainedExample, loaded: Any) -> list[dict[str, Any]]:
    import pandas as pd

    contract = loaded.contract
    frame = pd.read_csv(example.data_path).head(12)
    rows = []
    for i, row in enumerate(frame[contract.request_columns].astype(object).to_dict("records")):
        plain = {k: (None if isinstance(v, float) and v != v else v) for k, v in row.items()}
        rows.append(plain)
        for column in contract.model_input_columns[:: max(1, len(contract.model_input_columns) // 4)]:
            for j, value in enumerate(_mutations(contract, plain, column)):
                rows.append({**plain, column: value, "__key": f"{i}-{column}-{j}"})
    key = contract.entity_columns[0]
    for n, row in enumerate(rows):  # a unique entity per record, to match outputs to inputs
        row.pop("__key", None)
        row[key] = f"k{n}" if contract.column(key).dtype == "string" else n
    return rows


@pytest.fixture(scope="module")
def example_clients(
    trained: dict[str, TrainedExample], loaded_models: dict[str, Any]
) -> Iterator[dict[str, Any]]:
    from fastapi.testclient import TestClient

    from mmp.serving.app import create_app
    from mmp.serving.settings import ServeSettings

    clients = {}
    for name, example in trained.items():
        settings = ServeSettings(model_uri=example.registered_uri, tracking_uri=example.tracking_uri)
        client = TestClient(create_app(settings, loaded=loaded_models[name]), raise_server_exceptions=False)
        clients[name] = client.__enter__()
    yield clients
    for client in clients.values():
        client.__exit__(None, None, None)


@pytest.fixture(scope="module")
def loaded_models(trained: dict[str, TrainedExample]) -> dict[str, Any]:
    from mmp.core.model_store import load_model

    return {name: load_model(ex.registered_uri, ex.tracking_uri) for name, ex in trained.items()}


@pytest.mark.parametrize("name", EXAMPLES)
def test_example_recipe_is_conformant_on_every_surface(
    name: str,
    trained: dict[str, TrainedExample],
    loaded_models: dict[str, Any],
    example_clients: dict[str, Any],
    session_store: tuple[str, Path],
    tmp_path: Path,
) -> None:
    from mmp.pipelines.batch import BatchJob, run_batch
    from mmp.recipe.loader import load_config

    loaded = loaded_models[name]
    contract = loaded.contract
    records = _records(trained[name], loaded)
    classes = contract.classes
    expected = surfaces.in_process(loaded, records)
    assert sum(o[0] == "ok" for o in expected) >= 12 and sum(o[0] == "refused" for o in expected) >= 12

    client = example_clients[name]
    surfaces.same(expected, surfaces.predict_one(client, records, classes), records, "/predict")
    surfaces.same(expected, surfaces.predict_batch(client, records, classes), records, "/predict/batch")

    config = load_config(session_store[1]).model

    def run(source: Path, output: Path, **options: Any) -> Any:
        job = BatchJob(
            model_uri=trained[name].registered_uri, data_path=str(source), output_path=str(output), **options
        )
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
    got = surfaces.batch_file(
        run, source, csv_records, key, classes, probabilities=contract.task == "classification"
    )
    surfaces.same([o for _, o in in_csv], got, csv_records, "batch-inference (CSV)")

    pyfunc, _ = surfaces.pyfunc_without_mmp(loaded.path, records, tmp_path)
    surfaces.same([(o[0], o[1], None) if o[0] == "ok" else o for o in expected], pyfunc, records, "pyfunc")
