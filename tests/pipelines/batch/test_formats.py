"""Round trips: every input format in, every output format out, predictions equal a direct predict."""

from __future__ import annotations

import gzip
import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from tests.pipelines.batch.conftest import Batch, leftovers, read_output


def _write_input(frame, folder: Path, kind: str) -> Path:
    """The same rows as `kind`: a file, a compressed file, a folder or a glob of parts."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    if kind == "csv":
        frame.to_csv(folder / "in.csv", index=False)
        return folder / "in.csv"
    if kind == "tsv":
        frame.to_csv(folder / "in.tsv", index=False, sep="\t")
        return folder / "in.tsv"
    if kind == "csv.gz":
        with gzip.open(folder / "in.csv.gz", "wt", encoding="utf-8") as fh:
            frame.to_csv(fh, index=False)
        return folder / "in.csv.gz"
    if kind == "parquet":
        pq.write_table(
            pa.Table.from_pandas(frame, preserve_index=False), folder / "in.parquet", row_group_size=97
        )
        return folder / "in.parquet"
    if kind == "jsonl":
        frame.to_json(
            folder / "in.jsonl", orient="records", lines=True, double_precision=15, date_format="iso"
        )
        return folder / "in.jsonl"
    parts = folder / "parts"
    parts.mkdir()
    (parts / "_SUCCESS").write_text("")  # marker files of other tools are ignored
    step = len(frame) // 3 + 1
    for i in range(3):
        piece = frame.iloc[i * step : (i + 1) * step]
        if kind == "parquet-dir":
            pq.write_table(pa.Table.from_pandas(piece, preserve_index=False), parts / f"part-{i:05d}.parquet")
        else:
            piece.to_csv(parts / f"part-{i:05d}.csv", index=False)
    return parts if kind == "parquet-dir" else Path(f"{parts}/part-*.csv")


INPUTS = ["csv", "tsv", "csv.gz", "parquet", "jsonl", "parquet-dir", "csv-glob"]
OUTPUTS = ["parquet", "csv", "tsv", "jsonl"]


@pytest.mark.parametrize("kind", INPUTS)
def test_every_input_format_scores_like_a_direct_predict(batch: Batch, tmp_path: Path, kind: str) -> None:
    frame = batch.frame("breast_cancer")
    source = _write_input(frame, tmp_path, kind)
    out = tmp_path / "preds.parquet"
    result = batch.run("breast_cancer", source, out, chunk_rows=128)
    got = read_output(out)
    assert result.rows_read == result.rows_scored == len(frame)
    assert got["patient_id"].tolist() == frame["patient_id"].tolist()
    assert got["prediction"].tolist() == list(batch.expected("breast_cancer"))


@pytest.mark.parametrize("fmt", OUTPUTS)
def test_every_output_format_holds_the_same_rows(batch: Batch, tmp_path: Path, fmt: str) -> None:
    frame = batch.frame("diabetes")
    out = tmp_path / f"preds.{fmt}"
    batch.run("diabetes", batch.trained["diabetes"].data_path, out, chunk_rows=100)
    got = read_output(out)
    assert list(got.columns) == [
        "patient_id",
        "prediction",
        "model_name",
        "model_version",
        "model_run_id",
        "scored_at",
    ]
    assert got["patient_id"].tolist() == frame["patient_id"].tolist()
    np.testing.assert_allclose(got["prediction"].to_numpy(float), batch.expected("diabetes"), rtol=0, atol=0)
    assert set(got["model_name"]) == {"diabetes"}
    assert {str(v) for v in got["model_version"]} == {"1"}
    assert set(got["model_run_id"]) == {batch.trained["diabetes"].run_id}
    assert got["scored_at"].nunique() == 1
    assert leftovers(tmp_path, {out.name}) == []


def test_probabilities_one_column_per_class(batch: Batch, tmp_path: Path) -> None:
    from mmp.core.model_store import load_model
    from mmp.core.scoring import model_input

    out = tmp_path / "preds.parquet"
    batch.run("breast_cancer", batch.trained["breast_cancer"].data_path, out, probabilities=True)
    got = read_output(out)
    example = batch.trained["breast_cancer"]
    loaded = load_model(example.registered_uri, example.tracking_uri)
    proba = loaded.pipeline.predict_proba(model_input(loaded.contract, batch.frame("breast_cancer")))
    assert [c for c in got.columns if c.startswith("probability_")] == [
        "probability_benign",
        "probability_malignant",
    ]
    np.testing.assert_array_equal(got[["probability_benign", "probability_malignant"]].to_numpy(), proba)


def test_probabilities_for_a_regressor_is_a_clear_error(batch: Batch, tmp_path: Path) -> None:
    from mmp.core.errors import MmpError

    with pytest.raises(MmpError, match="--probabilities needs a classifier"):
        batch.run("diabetes", batch.trained["diabetes"].data_path, tmp_path / "p.csv", probabilities=True)
    assert leftovers(tmp_path, set()) == []


@pytest.mark.parametrize("fmt", ["csv", "jsonl", "parquet"])
def test_dates_booleans_and_missing_values_survive_every_format(
    batch: Batch, tmp_path: Path, fmt: str
) -> None:
    """The retail example: a datetime key column, a boolean feature and NaN prices."""
    import pandas as pd

    frame = batch.frame("retail_sell_through")
    frame["week_start"] = pd.to_datetime(frame["week_start"])
    source = _write_input(frame, tmp_path, fmt)
    out = tmp_path / "preds.jsonl"
    batch.run("retail_sell_through", source, out, chunk_rows=500)
    got = read_output(out)
    assert list(got.columns)[:4] == ["store_id", "sku", "week_start", "prediction"]
    assert pd.to_datetime(got["week_start"]).tolist() == frame["week_start"].tolist()
    np.testing.assert_allclose(got["prediction"], batch.expected("retail_sell_through", frame), rtol=1e-12)


def test_csv_with_quotes_commas_newlines_and_unicode(batch: Batch, tmp_path: Path) -> None:
    """Entity ids that need quoting in CSV come back byte for byte, in CSV and JSON Lines."""
    frame = batch.frame("breast_cancer").head(40).copy()
    odd = ['Zoë "the 1st", München', "line\nbreak", "日本語,テスト", "ümlaut;semi", "emoji 🎉", "  padded  "]
    frame["patient_id"] = [odd[i % len(odd)] + f"#{i}" for i in range(len(frame))]
    source = tmp_path / "in.csv"
    source.write_text(frame.to_csv(index=False), encoding="utf-8")
    for fmt in ("csv", "jsonl"):
        out = tmp_path / f"preds.{fmt}"
        batch.run("breast_cancer", source, out)
        got = read_output(out)
        assert got["patient_id"].tolist() == frame["patient_id"].tolist()
        assert got["prediction"].tolist() == list(batch.expected("breast_cancer", frame))
    raw = json.loads((tmp_path / "preds.jsonl").read_text(encoding="utf-8").splitlines()[0])
    assert raw["patient_id"] == frame["patient_id"].iloc[0]


def test_csv_with_a_byte_order_mark_and_extra_columns(batch: Batch, tmp_path: Path) -> None:
    frame = batch.frame("breast_cancer").head(30).copy()
    frame["notes"] = "not a feature"
    source = tmp_path / "in.csv"
    source.write_bytes(b"\xef\xbb\xbf" + frame.to_csv(index=False).encode("utf-8"))
    out = tmp_path / "preds.csv"
    batch.run("breast_cancer", source, out)
    assert read_output(out)["patient_id"].tolist() == frame["patient_id"].tolist()


def test_empty_input_writes_an_empty_output_with_the_schema(batch: Batch, tmp_path: Path) -> None:
    frame = batch.frame("breast_cancer").head(0)
    source = tmp_path / "in.csv"
    frame.to_csv(source, index=False)
    out = tmp_path / "preds.parquet"
    result = batch.run("breast_cancer", source, out)
    got = read_output(out)
    assert result.rows_read == 0 and len(got) == 0
    assert list(got.columns)[:2] == ["patient_id", "prediction"]


def test_model_uri_alias_and_exported_folder_score_the_same(batch: Batch, tmp_path: Path) -> None:
    import mlflow

    from mmp.core.model_store import export_model
    from mmp.pipelines.batch import BatchJob, run_batch

    example = batch.trained["diabetes"]
    mlflow.MlflowClient(example.tracking_uri).set_registered_model_alias("diabetes", "champion", "1")
    exported = export_model(example.registered_uri, tmp_path / "exported", example.tracking_uri)
    outputs = []
    for i, uri in enumerate(["models:/diabetes@champion", str(exported)]):
        out = tmp_path / f"p{i}.parquet"
        job = BatchJob(model_uri=uri, data_path=str(example.data_path), output_path=str(out))
        result = run_batch(job, batch.config)
        outputs.append(read_output(out))
        assert result.model["name"] == "diabetes"
    assert outputs[0]["model_version"].iloc[0] == "1"
    assert outputs[0]["prediction"].tolist() == outputs[1]["prediction"].tolist()
    shutil.rmtree(exported)
