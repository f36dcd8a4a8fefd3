"""SQL in and out against real databases: SQLite always, PostgreSQL when a server can be started
(`postgres_url`, tests/conftest.py)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from mmp.core.errors import MmpError
from tests.pipelines.batch.conftest import Batch


def _tables(url: str) -> list[str]:
    import sqlalchemy as sa

    engine = sa.create_engine(url)
    try:
        with engine.connect() as conn:
            return sorted(sa.inspect(conn).get_table_names())
    finally:
        engine.dispose()


def _read_table(url: str, table: str):
    import pandas as pd
    import sqlalchemy as sa

    engine = sa.create_engine(url)
    try:
        with engine.connect() as conn:
            return pd.read_sql_query(sa.text(f"SELECT * FROM {table}"), conn)
    finally:
        engine.dispose()


def _load(url: str, frame, table: str) -> None:
    import sqlalchemy as sa

    engine = sa.create_engine(url)
    try:
        with engine.begin() as conn:
            frame.to_sql(table, conn, index=False, if_exists="replace")
    finally:
        engine.dispose()


def _config(tmp_path: Path, batch: Batch, extra: str = ""):
    """The session config plus a batch.output block."""
    from mmp.recipe.loader import load_config

    path = tmp_path / "config.yaml"
    path.write_text(batch.config_path.read_text() + extra, encoding="utf-8")
    return load_config(path).model


def _round_trip(batch: Batch, tmp_path: Path, url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """Query in, table out, through one connection URI; then the overwrite rules and atomicity."""
    monkeypatch.setenv("MMP_DATABASE_URL", url)
    frame = batch.frame("breast_cancer")
    _load(url, frame, "patients")
    query = tmp_path / "patients.sql"
    query.write_text("SELECT * FROM patients ORDER BY patient_id", encoding="utf-8")
    result = batch.run("breast_cancer", query, "sql://scores", chunk_rows=100, probabilities=True)
    assert result.rows_scored == len(frame) and result.output == "sql://scores"
    got = _read_table(url, "scores")
    assert got["patient_id"].tolist() == frame["patient_id"].tolist()
    assert got["prediction"].tolist() == list(batch.expected("breast_cancer"))
    assert {"probability_benign", "probability_malignant", "scored_at"} <= set(got.columns)
    assert _tables(url) == ["patients", "scores"]

    with pytest.raises(MmpError, match="the table scores already exists"):
        batch.run("breast_cancer", query, "sql://scores")
    bad = frame.astype({"mean_area": object})
    bad.loc[450, "mean_area"] = "lots"
    _load(url, bad, "patients")
    with pytest.raises(MmpError, match="cannot score row 451"):
        batch.run("breast_cancer", query, "sql://scores", chunk_rows=100, force=True)
    assert len(_read_table(url, "scores")) == len(frame)  # the old table is untouched
    assert _tables(url) == ["patients", "scores"]  # and no staging table is left

    result = batch.run("breast_cancer", query, "sql://scores", force=True, on_error="skip",
                       rejects_path=str(tmp_path / "rejects.csv"))  # fmt: skip
    assert result.rows_scored == len(frame) - 1 and len(_read_table(url, "scores")) == len(frame) - 1
    # Rescoring: the query reads the very table it replaces; the input is released before the swap.
    rescore = "SELECT p.* FROM patients p JOIN scores s ON s.patient_id = p.patient_id ORDER BY p.patient_id"
    result = batch.run("breast_cancer", rescore, "sql://scores", force=True, chunk_rows=100)
    assert result.rows_scored == len(frame) - 1 and _tables(url) == ["patients", "scores"]
    block = "batch:\n  output:\n    kind: sql\n    table: scores\n    if_exists: append\n"
    append = _config(tmp_path, batch, block)
    batch.run("breast_cancer", "SELECT * FROM patients WHERE patient_id < 'P0010'", config=append,
              on_error="skip", rejects_path=str(tmp_path / "rejects2.csv"))  # fmt: skip
    assert len(_read_table(url, "scores")) == len(frame) - 1 + 10


def test_sqlite_round_trip_in_one_database(
    batch: Batch, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _round_trip(batch, tmp_path, f"sqlite:///{tmp_path / 'shop.db'}", monkeypatch)


def test_sql_output_to_another_database_and_typed_columns(
    batch: Batch, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Read from one database, write to the one named by batch.output.uri_env; dates stay dates."""
    import pandas as pd

    source, target = f"sqlite:///{tmp_path / 'in.db'}", f"sqlite:///{tmp_path / 'out.db'}"
    monkeypatch.setenv("MMP_DATABASE_URL", source)
    monkeypatch.setenv("SCORES_DB", target)
    frame = batch.frame("retail_sell_through")
    _load(source, frame, "weekly")
    config = _config(tmp_path, batch, "batch:\n  output:\n    uri_env: SCORES_DB\n")
    batch.run("retail_sell_through", "SELECT * FROM weekly", "sql://forecast", config=config, chunk_rows=1000)
    got = _read_table(target, "forecast")
    assert _tables(source) == ["weekly"]
    np.testing.assert_allclose(got["prediction"], batch.expected("retail_sell_through"), rtol=1e-12)
    assert pd.to_datetime(got["week_start"]).tolist() == pd.to_datetime(frame["week_start"]).tolist()


def test_sql_errors_are_one_line_without_the_password(
    batch: Batch, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MMP_DATABASE_URL", f"sqlite:///{tmp_path / 'x.db'}")
    with pytest.raises(MmpError, match=r"SQL query failed: .*no such table: nowhere"):
        batch.run("diabetes", "SELECT * FROM nowhere", tmp_path / "o.csv")
    monkeypatch.delenv("MMP_DATABASE_URL")
    with pytest.raises(MmpError, match="environment variable MMP_DATABASE_URL"):
        batch.run("diabetes", "SELECT 1", tmp_path / "o.csv")
    monkeypatch.setenv("MMP_DATABASE_URL", "postgresql+psycopg://user:s3cret@127.0.0.1:1/db")
    with pytest.raises(MmpError) as err:
        batch.run("diabetes", "SELECT 1", tmp_path / "o.csv")
    assert "s3cret" not in str(err.value)
    with pytest.raises(MmpError, match="invalid table name"):
        batch.run("diabetes", batch.trained["diabetes"].data_path, "sql://scores; drop table x")


@pytest.mark.slow
def test_postgresql_round_trip(
    batch: Batch, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, postgres_url: str
) -> None:
    _round_trip(batch, tmp_path, postgres_url, monkeypatch)


@pytest.mark.slow
def test_postgresql_schema_qualified_table(
    batch: Batch, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, postgres_url: str
) -> None:
    import sqlalchemy as sa

    monkeypatch.setenv("MMP_DATABASE_URL", postgres_url)
    engine = sa.create_engine(postgres_url)
    with engine.begin() as conn:
        conn.execute(sa.text("CREATE SCHEMA IF NOT EXISTS scoring"))
    engine.dispose()
    batch.run("diabetes", batch.trained["diabetes"].data_path, "sql://scoring.daily")
    got = _read_table(postgres_url, "scoring.daily")
    assert got["patient_id"].tolist() == batch.frame("diabetes")["patient_id"].tolist()
