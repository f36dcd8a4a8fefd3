"""`--engine spark` in `local[1]`: the same predictions as the streaming engine, row for row."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from mmp.core.errors import MmpError
from tests.pipelines.batch.conftest import Batch, leftovers, read_output

pytestmark = [pytest.mark.spark, pytest.mark.slow]


def test_spark_predictions_equal_the_streaming_engine(batch: Batch, tmp_path: Path, spark: Any) -> None:
    """Retail: string keys, a date, a boolean from CSV text and missing prices."""
    source = batch.trained["retail_sell_through"].data_path
    streamed, sparked = tmp_path / "local.parquet", tmp_path / "spark.parquet"
    batch.run("retail_sell_through", source, streamed)
    result = batch.run("retail_sell_through", source, sparked, engine="spark", spark_master="local[1]")
    assert result.engine == "spark" and result.rows_scored == result.rows_read == 3120
    assert sparked.is_dir() and leftovers(tmp_path, {"local.parquet", "spark.parquet"}) == []
    local, remote = read_output(streamed), read_output(sparked)
    assert list(remote.columns) == list(local.columns)
    for column in ("store_id", "sku", "week_start", "model_name", "model_run_id"):
        assert remote[column].tolist() == local[column].tolist(), column
    assert remote["prediction"].tolist() == local["prediction"].tolist()
    assert str(remote["scored_at"].dtype) == "datetime64[us, UTC]"
    assert spark.getActiveSession() is not None  # the caller's session is left running


def test_spark_checks_rows_against_the_contract(batch: Batch, tmp_path: Path, spark: Any) -> None:
    frame = batch.frame("breast_cancer").astype({"mean_radius": object})
    frame.loc[5, "mean_radius"] = "twelve"
    source = tmp_path / "in.parquet"
    frame.astype({"mean_radius": str}).to_parquet(source)
    out = tmp_path / "out.parquet"
    with pytest.raises(
        MmpError, match=r"cannot score the row with patient_id='P0005': mean_radius: expected a"
    ):
        batch.run("breast_cancer", source, out, engine="spark")
    assert leftovers(tmp_path, {"in.parquet"}) == []
    rejects = tmp_path / "bad.csv"
    result = batch.run(
        "breast_cancer", source, out, engine="spark", on_error="skip", rejects_path=str(rejects)
    )
    assert (result.rows_scored, result.rows_rejected) == (568, 1)
    import pandas as pd

    bad = pd.concat(pd.read_csv(part) for part in sorted(rejects.glob("part-*.csv")))
    assert bad["patient_id"].tolist() == ["P0005"]
    assert bad["reason"].tolist() == ["mean_radius: expected a number, got 'twelve' [wrong_type]"]
    got = read_output(out)
    kept = frame.drop(index=[5])
    assert got["prediction"].tolist() == list(
        batch.expected("breast_cancer", kept.astype({"mean_radius": float}))
    )


def test_spark_refuses_what_it_cannot_do(batch: Batch, tmp_path: Path) -> None:
    data = batch.trained["breast_cancer"].data_path
    with pytest.raises(MmpError, match="--probabilities is not available with --engine spark"):
        batch.run("breast_cancer", data, tmp_path / "o.parquet", engine="spark", probabilities=True)
    with pytest.raises(MmpError, match="--engine spark writes Parquet"):
        batch.run("breast_cancer", data, tmp_path / "o.jsonl", engine="spark")
