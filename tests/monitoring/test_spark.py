"""`mmp monitor --engine spark` on Spark `local[1]`: the same report as the local engine."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from mmp.core.errors import MmpError
from mmp.monitoring.profile import ReferenceProfile
from mmp.monitoring.run import MonitorJob, run_monitor
from tests.monitoring import synthetic

pytestmark = [pytest.mark.spark, pytest.mark.slow]


@pytest.fixture(scope="module")
def spark(spark: Any) -> Iterator[Any]:
    """The shared local[1] session (the engine reuses an active one) with small input splits for
    this module, so even this small log is read as several partitions whose states the driver
    merges; the settings are put back afterwards."""
    small = {"spark.sql.files.maxPartitionBytes": str(64 * 1024), "spark.sql.files.openCostInBytes": "0"}
    before = {key: spark.conf.get(key, None) for key in small}
    for key, value in small.items():
        spark.conf.set(key, value)
    yield spark
    for key, value in before.items():
        if value is None:
            spark.conf.unset(key)
        else:
            spark.conf.set(key, value)


@pytest.mark.parametrize("fmt", ["parquet", "csv"])
def test_spark_scores_equal_the_local_engine(
    fmt: str, reference: tuple[ReferenceProfile, Path], shifted_log: Path, tmp_path: Path, spark: Any
) -> None:
    log = pd.read_parquet(shifted_log)
    folder = tmp_path / "log"
    folder.mkdir()
    for i, start in enumerate(range(0, len(log), 7_000)):  # several files, windows across them
        part = log.iloc[start : start + 7_000]
        if fmt == "csv":
            part.to_csv(folder / f"part-{i}.csv", index=False)
        else:
            part.to_parquet(folder / f"part-{i}.parquet", index=False)
    labels = tmp_path / "labels.csv"
    log.iloc[::3][["request_id", "churned"]].rename(columns={"churned": "label"}).to_csv(labels, index=False)
    if fmt == "parquet":
        assert spark.read.parquet(str(folder)).rdd.getNumPartitions() > 1

    def run(engine: str) -> dict[str, Any]:
        job = MonitorJob(
            data=str(folder), reference_profile=str(reference[1]), labels=str(labels), window="1d",
            engine=engine, spark_master="local[1]",
        )  # fmt: skip
        document = run_monitor(job).document
        document.pop("generated_at")
        return document

    local, remote = run("local"), run("spark")
    assert local["status"] == "alert" and len(local["windows"]) == 30
    assert local["windows"][0]["realized"]["labeled_rows"] > 300
    synthetic.assert_same_document(local, remote)
    assert spark.getActiveSession() is not None  # the caller's session is left running


def test_unreadable_column_is_one_line_from_the_executors(
    reference: tuple[ReferenceProfile, Path], shifted_log: Path, tmp_path: Path, spark: Any
) -> None:
    log = pd.read_parquet(shifted_log).head(2_000)
    log["x2"] = "n/a"
    data = tmp_path / "log.parquet"
    log.to_parquet(data, index=False)
    job = MonitorJob(data=str(data), reference_profile=str(reference[1]), engine="spark")
    with pytest.raises(MmpError) as local_error:
        run_monitor(MonitorJob(data=str(data), reference_profile=str(reference[1])))
    with pytest.raises(MmpError) as spark_error:
        run_monitor(job)
    assert str(spark_error.value) == str(local_error.value)
    assert "column 'x2' cannot be read as numeric" in str(spark_error.value)
