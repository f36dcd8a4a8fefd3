"""One row, one prediction: the same records through every surface give the same outcome.

Each case is a valid record with one column replaced by a value of some kind (valid, missing,
unseen level, wrong type, out of range, odd spelling). The in-process pipeline (its `ConformInput`
step converts or refuses) is the reference; `/predict`, `/predict/batch`, batch-inference from CSV
and Parquet, Spark and the logged model without mmp must agree with it, verdict for verdict and
prediction for prediction. The expected verdicts are also pinned, so a rule cannot drift on every
surface at once without a test failing.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from mmp.core.contract import example_record
from tests.conformance import surfaces
from tests.conformance.conftest import Conformance

INF = math.inf
OK = "ok"
# (column, value, expected verdict: "ok" or the reason code)
CASES: dict[str, list[tuple[str, Any, str]]] = {
    "conf_accept": [
        ("amount", 12.5, OK),
        ("amount", 3, OK),
        ("amount", None, OK),  # missing: the imputer's NaN
        ("amount", "NA", OK),
        ("amount", "", OK),
        ("amount", " 7.25 ", OK),
        ("amount", "abc", "wrong_type"),
        ("amount", True, "wrong_type"),
        ("amount", INF, "out_of_range"),
        ("amount", "1e999", "out_of_range"),
        ("amount", 1e-300, OK),  # tiny
        ("amount", -1e300, "model_refused"),  # huge: finite, but beyond the forest's float32
        ("visits", 4, OK),
        ("visits", 4.0, OK),
        ("visits", "4", OK),
        ("visits", "4.0", OK),
        ("visits", 4.5, "wrong_type"),
        ("visits", None, OK),
        ("visits", "x", "wrong_type"),
        ("visits", 2**63, "out_of_range"),
        ("visits", True, "wrong_type"),
        ("member", True, OK),
        ("member", False, OK),
        ("member", None, OK),
        ("member", "yes", OK),
        ("member", "N", OK),
        ("member", " TRUE ", OK),
        ("member", 1, OK),
        ("member", 0.0, OK),
        ("member", 2, "wrong_type"),
        ("member", "maybe", "wrong_type"),
        ("color", "red", OK),
        ("color", "purple", OK),  # unseen, and the encoder ignores unseen levels
        ("color", None, OK),
        ("color", "", OK),
        ("color", "NA", OK),
        ("color", 5, "wrong_type"),
        ("color", "🚀 émoji", OK),
        ("color", "\ud800", "wrong_type"),  # a lone surrogate
        ("size", "M", OK),
        ("size", "XL", OK),
        ("size", None, "missing_value"),  # training had no missing size
        ("size", True, "wrong_type"),
    ],
    "conf_refuse": [
        ("color", "red", OK),
        ("color", "purple", "unknown_level"),
        ("color", None, OK),
        ("size", "XL", "unknown_level"),
        ("size", "L", OK),
        ("member", None, OK),
        ("member", "no", OK),
        ("member", "True", OK),
        ("visits", None, OK),
    ],
    "conf_dates": [
        ("day", "2024-03-01", OK),
        ("day", "2024-03-01T10:00:00+02:00", OK),
        ("day", "2024-03-01 10:00:00", OK),
        ("day", "2024-03-01T23:30:00-05:00", OK),
        ("day", "2024-03-01T10:00:00Z", OK),
        ("day", None, "missing_value"),
        ("day", "0001-01-01T00:00:00+03:04", "out_of_range"),
        ("day", "9999-12-31T23:00:00", "out_of_range"),
        ("day", "31/01/2024", "wrong_type"),
        ("day", "2024-02-30", "wrong_type"),
        ("day", 20240101, "wrong_type"),
        ("amount", 1e-310, OK),
        ("amount", "-0.0", OK),
    ],
}


def case_records(conformance: Conformance, name: str) -> list[dict[str, Any]]:
    contract = conformance.models[name].loaded.contract
    base = example_record(contract)
    key = contract.entity_columns[0]
    return [{**base, key: f"case-{i}", column: value} for i, (column, value, _) in enumerate(CASES[name])]


def expected_verdict(outcome: surfaces.Outcome) -> str:
    return OK if outcome[0] == "ok" else outcome[2]


@pytest.fixture(scope="module")
def reference(conformance: Conformance) -> dict[str, list[surfaces.Outcome]]:
    """The in-process outcomes, checked against the pinned verdicts once."""
    out = {}
    for name in CASES:
        records = case_records(conformance, name)
        outcomes = surfaces.in_process(conformance.models[name].loaded, records)
        wrong = [
            (column, value, want, expected_verdict(got))
            for (column, value, want), got in zip(CASES[name], outcomes, strict=True)
            if expected_verdict(got) != want
        ]
        assert not wrong, f"{name}: (column, value, pinned, in-process): {wrong}"
        out[name] = outcomes
    return out


@pytest.fixture(scope="module")
def clients(conformance: Conformance) -> Iterator[dict[str, Any]]:
    from fastapi.testclient import TestClient

    from mmp.serving.app import create_app
    from mmp.serving.settings import ServeSettings

    opened = {}
    with_clients = []
    for name, model in conformance.models.items():
        settings = ServeSettings(model_uri=model.uri, tracking_uri=conformance.tracking_uri)
        client = TestClient(create_app(settings, loaded=model.loaded), raise_server_exceptions=False)
        client.__enter__()
        with_clients.append(client)
        opened[name] = client
    yield opened
    for client in with_clients:
        client.__exit__(None, None, None)


def _classes(conformance: Conformance, name: str) -> list[Any] | None:
    return conformance.models[name].loaded.contract.classes


@pytest.mark.parametrize("name", sorted(CASES))
def test_predict_one_at_a_time(conformance: Conformance, reference: Any, clients: Any, name: str) -> None:
    records = case_records(conformance, name)
    got = surfaces.predict_one(clients[name], records, _classes(conformance, name))
    surfaces.same(reference[name], got, records, "/predict")


@pytest.mark.parametrize("name", sorted(CASES))
def test_predict_batch(conformance: Conformance, reference: Any, clients: Any, name: str) -> None:
    records = case_records(conformance, name)
    classes = _classes(conformance, name)
    surfaces.same(
        reference[name], surfaces.predict_batch(clients[name], records, classes), records, "/predict/batch"
    )
    accepted = [(r, o) for r, o in zip(records, reference[name], strict=True) if o[0] == "ok"]
    together = surfaces.predict_batch_together(clients[name], [r for r, _ in accepted], classes)
    surfaces.same(
        [o for _, o in accepted], together, [r for r, _ in accepted], "/predict/batch (one request)"
    )


def _file_cases(conformance: Conformance, name: str) -> tuple[list[dict[str, Any]], list[surfaces.Outcome]]:
    """Cases a CSV can spell: text and missing values anywhere, numbers and booleans (as text) only
    where the column is not text (in a text column, 5 and "5" are different records)."""
    contract = conformance.models[name].loaded.contract
    records, outcomes = [], []
    for record, (column, value, _), outcome in zip(
        case_records(conformance, name), CASES[name], reference_cache[name], strict=True
    ):
        if isinstance(value, str) and "\ud800" in value:
            continue  # UTF-8 files cannot hold a lone surrogate
        if contract.column(column).dtype == "string" and not (value is None or isinstance(value, str)):
            continue
        records.append(record)
        outcomes.append(outcome)
    return records, outcomes


reference_cache: dict[str, list[surfaces.Outcome]] = {}


@pytest.mark.parametrize("name", sorted(CASES))
def test_batch_inference_from_csv(
    conformance: Conformance, reference: Any, name: str, tmp_path: Path
) -> None:
    reference_cache.update(reference)
    records, expected = _file_cases(conformance, name)
    source = tmp_path / "cases.csv"
    surfaces.write_csv(source, records)
    key = conformance.models[name].loaded.contract.entity_columns[0]
    probabilities = conformance.models[name].loaded.contract.task == "classification"
    got = surfaces.batch_file(
        conformance.batch_run(name),
        source,
        records,
        key,
        _classes(conformance, name),
        probabilities=probabilities,
    )
    surfaces.same(expected, got, records, "batch-inference (CSV)")


def test_batch_inference_from_parquet_with_typed_columns(
    conformance: Conformance, reference: Any, tmp_path: Path
) -> None:
    """Each case in a Parquet column of its own type (bool, int64, double, string, all-null)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    name = "conf_accept"
    records = case_records(conformance, name)
    contract = conformance.models[name].loaded.contract
    groups: dict[tuple[str, str], list[int]] = {}
    for i, (column, value, _) in enumerate(CASES[name]):
        if isinstance(value, str) and "\ud800" in value:
            continue
        kind = "null" if value is None else type(value).__name__
        if kind == "int" and abs(value) >= 2**63:
            continue  # no Parquet integer column holds 2**63
        groups.setdefault((column, kind), []).append(i)
    run = conformance.batch_run(name)
    base = example_record(contract)
    for (column, kind), positions in groups.items():
        chosen = [records[i] for i in positions]
        arrow_types = {"bool": pa.bool_(), "int": pa.int64(), "float": pa.float64(), "str": pa.string()}
        table = {}
        for col in chosen[0]:
            values = [r[col] for r in chosen]
            if col == column:
                table[col] = pa.array(values, type=arrow_types.get(kind, _arrow_of(base[col])))
            else:
                table[col] = pa.array(values, type=_arrow_of(base[col]))
        source = tmp_path / f"{column}-{kind}.parquet"
        pq.write_table(pa.table(table), source)
        got = surfaces.batch_file(run, source, chosen, "id", _classes(conformance, name), probabilities=True)
        surfaces.same(
            [reference[name][i] for i in positions], got, chosen, f"batch (Parquet {column}: {kind})"
        )


def _arrow_of(value: Any) -> Any:
    import pyarrow as pa

    if isinstance(value, bool):
        return pa.bool_()
    if isinstance(value, int):
        return pa.int64()
    if isinstance(value, float):
        return pa.float64()
    return pa.string()


def test_the_training_file_scores_like_the_pipeline_everywhere(
    conformance: Conformance, tmp_path: Path
) -> None:
    """Real rows with missing values in every column type (Parquet nullable dtypes, CSV text)."""
    import pandas as pd

    model = conformance.models["conf_accept"]
    frame = conformance.frame.head(60)
    direct = model.loaded.pipeline.predict(frame.drop(columns=["label"]))
    assert frame.isna().any().sum() >= 4  # amount, visits, member, color have gaps
    for suffix in ("parquet", "csv"):
        source = tmp_path / f"rows.{suffix}"
        frame.to_parquet(source) if suffix == "parquet" else frame.to_csv(source, index=False)
        output = tmp_path / f"rows-{suffix}.out.parquet"
        conformance.batch_run("conf_accept")(source, output)
        assert pd.read_parquet(output)["prediction"].tolist() == direct.tolist(), suffix


@pytest.mark.parametrize("name", sorted(CASES))
def test_logged_model_without_mmp(
    conformance: Conformance, reference: Any, name: str, tmp_path: Path, pyfunc_scorer: surfaces.PyfuncScorer
) -> None:
    """`mlflow.pyfunc.load_model(...).predict` where `import mmp` fails: same verdicts and predictions,
    and the whole training file as read from disk (missing values, dates as text) is accepted."""
    import pandas as pd

    model = conformance.models[name]
    records = case_records(conformance, name)
    raw = (
        pd.read_parquet(model.data_path)
        if model.data_path.suffix == ".parquet"
        else pd.read_csv(model.data_path)
    )
    whole = tmp_path / "training.parquet"
    raw.drop(columns=[model.loaded.contract.target_column]).to_parquet(whole)
    got, predictions = pyfunc_scorer(model.loaded.path, records, tmp_path, whole)
    expected = [(o[0], o[1], None) if o[0] == "ok" else o for o in reference[name]]
    surfaces.same(expected, got, records, "the logged model without mmp")
    assert predictions is not None and len(predictions) == len(raw)
    direct = model.loaded.pipeline.predict(raw).tolist()
    assert predictions == pytest.approx(direct, rel=1e-12)


@pytest.mark.slow
@pytest.mark.spark
def test_spark_local(conformance: Conformance, reference: Any, tmp_path: Path, spark: Any) -> None:
    """Spark `local[1]` (the shared session: the engine reuses an active one) over the CSV cases
    and the training Parquet."""
    reference_cache.update(reference)
    for name in ("conf_accept", "conf_refuse"):
        records, expected = _file_cases(conformance, name)
        keep = [i for i, o in enumerate(expected) if o != surfaces.MODEL_REFUSED]  # Spark stops on those
        records, expected = [records[i] for i in keep], [expected[i] for i in keep]
        source = tmp_path / f"{name}.csv"
        surfaces.write_csv(source, records)
        got = surfaces.spark_file(conformance.batch_run(name), source, records, "id")
        surfaces.same([(o[0], o[1], None) if o[0] == "ok" else o for o in expected], got, records, "Spark")
