"""The feature contract at work: missing columns, unscorable rows (fail or skip), rejects contents."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from mmp.core.errors import MmpError
from tests.pipelines.batch.conftest import Batch, leftovers, read_output


def test_a_missing_column_fails_at_once_naming_it(batch: Batch, tmp_path: Path) -> None:
    frame = (
        batch.frame("breast_cancer").drop(columns=["mean_area"]).rename(columns={"worst_area": "worst_aera"})
    )
    source = tmp_path / "in.parquet"
    frame.to_parquet(source)
    with pytest.raises(MmpError) as err:
        batch.run("breast_cancer", source, tmp_path / "out.csv")
    assert "missing the columns 'mean_area'" in err.value.message
    assert "'worst_area' (did you mean 'worst_aera'?)" in err.value.message
    assert leftovers(tmp_path, {"in.parquet"}) == []


def test_a_missing_entity_column_is_also_required(batch: Batch, tmp_path: Path) -> None:
    source = tmp_path / "in.csv"
    batch.frame("diabetes").drop(columns=["patient_id"]).to_csv(source, index=False)
    with pytest.raises(MmpError, match="missing the column 'patient_id'"):
        batch.run("diabetes", source, tmp_path / "out.csv")


def _bad_breast_cancer(tmp_path: Path) -> tuple[Path, object]:
    import pandas as pd

    frame = pd.read_csv(Path(__file__).resolve().parents[3] / "data" / "breast_cancer.csv")
    frame = frame.astype({"mean_radius": object, "mean_texture": object})
    frame.loc[5, "mean_radius"] = "twelve"  # text in a number column
    frame.loc[7, "mean_texture"] = None  # training had no missing values here
    frame.loc[300, "mean_radius"] = "1,5"
    source = tmp_path / "in.csv"
    frame.to_csv(source, index=False)
    return source, frame


def test_on_error_fail_names_the_row_and_column(batch: Batch, tmp_path: Path) -> None:
    source, _ = _bad_breast_cancer(tmp_path)
    with pytest.raises(MmpError) as err:
        batch.run("breast_cancer", source, tmp_path / "out.parquet", chunk_rows=50)
    message = "cannot score row 6: mean_radius: expected a number, got 'twelve' [wrong_type]"
    assert err.value.message == message
    assert "--on-error skip" in (err.value.hint or "")
    assert leftovers(tmp_path, {"in.csv"}) == []


def test_on_error_skip_writes_rejects_and_scores_the_rest(batch: Batch, tmp_path: Path) -> None:
    source, frame = _bad_breast_cancer(tmp_path)
    out = tmp_path / "out.parquet"
    result = batch.run("breast_cancer", source, out, on_error="skip", chunk_rows=50)
    assert (result.rows_read, result.rows_scored, result.rows_rejected) == (569, 566, 3)
    assert result.rejects == str(tmp_path / "out.rejects.csv")
    rejects = read_output(tmp_path / "out.rejects.csv")
    assert rejects["row"].tolist() == [6, 8, 301]
    assert rejects["column"].tolist() == ["mean_radius", "mean_texture", "mean_radius"]
    assert rejects["reason"].tolist() == [
        "mean_radius: expected a number, got 'twelve' [wrong_type]",
        "mean_texture: missing value, and training had none in this column [missing_value]",
        "mean_radius: expected a number, got '1,5' [wrong_type]",
    ]
    assert rejects["patient_id"].tolist() == ["P0005", "P0007", "P0300"]
    assert rejects["mean_radius"].tolist()[0] == "twelve"
    got = read_output(out)
    kept = frame.drop(index=[5, 7, 300]).reset_index(drop=True)
    assert got["patient_id"].tolist() == kept["patient_id"].tolist()
    assert got["prediction"].tolist() == list(
        batch.expected("breast_cancer", kept.astype({"mean_radius": float}))
    )


def test_rejects_path_format_follows_its_extension(batch: Batch, tmp_path: Path) -> None:
    source, _ = _bad_breast_cancer(tmp_path)
    rejects = tmp_path / "bad.jsonl"
    batch.run("breast_cancer", source, tmp_path / "o.csv", on_error="skip", rejects_path=str(rejects))
    lines = read_output(rejects)
    assert lines["row"].tolist() == [6, 8, 301]


def test_a_clean_run_with_skip_still_writes_an_empty_rejects_file(batch: Batch, tmp_path: Path) -> None:
    """So a stale rejects file from an earlier run never misleads."""
    out = tmp_path / "o.csv"
    batch.run("diabetes", batch.trained["diabetes"].data_path, out, on_error="skip")
    assert len(read_output(tmp_path / "o.rejects.csv")) == 0


def test_integers_dates_and_booleans_are_checked_value_by_value(batch: Batch, tmp_path: Path) -> None:
    frame = batch.frame("retail_sell_through").astype({"stock_units": object, "on_promotion": object})
    frame.loc[1, "stock_units"] = 2.5  # not an integer
    frame.loc[2, "week_start"] = "2024-13-45"  # not a date
    frame.loc[3, "on_promotion"] = "maybe"  # not a boolean
    frame.loc[4, "on_promotion"] = "yes"  # a boolean, spelled differently
    frame.loc[5, "price"] = None  # training saw missing prices: fine
    frame.loc[6, "category"] = "toys"  # an unseen level: the encoder ignores it
    source = tmp_path / "in.csv"
    frame.to_csv(source, index=False)
    result = batch.run("retail_sell_through", source, tmp_path / "o.csv", on_error="skip")
    rejects = read_output(tmp_path / "o.rejects.csv")
    assert rejects["row"].tolist() == [2, 3, 4]
    assert rejects["reason"].tolist() == [
        "stock_units: expected an integer, got '2.5' [wrong_type]",
        "week_start: expected an ISO 8601 date or date-time, got '2024-13-45' [wrong_type]",
        "on_promotion: expected true or false, got 'maybe' [wrong_type]",
    ]
    assert result.rows_scored == len(frame) - 3


def test_a_model_that_refuses_a_row_is_blamed_on_the_row(batch: Batch) -> None:
    """An encoder with handle_unknown='error' raises for an unseen level: that row, not the job."""
    from datetime import UTC, datetime

    import pyarrow as pa
    from sklearn.compose import ColumnTransformer
    from sklearn.linear_model import LinearRegression
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import OneHotEncoder

    from mmp.core.model_store import load_model
    from mmp.pipelines.batch.scorer import ChunkScorer

    example = batch.trained["retail_sell_through"]
    loaded = load_model(example.registered_uri, example.tracking_uri)
    frame = batch.frame("retail_sell_through")
    strict = Pipeline(
        [
            ("encode", ColumnTransformer([("c", OneHotEncoder(handle_unknown="error"), ["category"])])),
            ("model", LinearRegression()),
        ]
    ).fit(frame, frame["units_sold"])
    chunk = pa.Table.from_pandas(frame.head(64).drop(columns=["units_sold"]), preserve_index=False)
    chunk = chunk.set_column(
        chunk.schema.get_field_index("category"),
        "category",
        pa.array(["toys" if i in (9, 40) else c for i, c in enumerate(chunk["category"].to_pylist())]),
    )
    kwargs = {"contract": loaded.contract, "identity": loaded.identity, "scored_at": datetime.now(UTC)}
    skipped = ChunkScorer(strict, on_error="skip", **kwargs)(chunk, first_row=101)
    assert skipped.rejects["row"].to_pylist() == [110, 141]
    assert skipped.rejects["column"].to_pylist() == ["category", "category"]
    assert "unknown level 'toys' refused by the model" in skipped.rejects["reason"][0].as_py()
    assert skipped.output is not None and skipped.output.num_rows == 62
    kept = frame.head(64).drop(index=[9, 40])
    np.testing.assert_allclose(skipped.output["prediction"].to_numpy(), strict.predict(kept))
    failed = ChunkScorer(strict, on_error="fail", **kwargs)(chunk, first_row=101)
    assert failed.output is None and failed.rejects["row"].to_pylist() == [110]

    # evaluate converts a chunk once for models that share a contract: each scorer adds its own
    # refusals to a copy, so the next model starts from the conversion alone.
    from mmp.pipelines.batch.checks import coerce

    scorer = ChunkScorer(strict, on_error="skip", **kwargs)
    shared = coerce(chunk, scorer.specs)
    assert not shared[1]
    for _ in range(2):
        again = scorer(chunk, 101, shared)
        assert again.rejects.equals(skipped.rejects) and again.output is not None
        assert again.output.equals(skipped.output)
    assert not shared[1], "the shared conversion's problems were not modified"


def test_a_malformed_csv_line_goes_to_the_rejects(batch: Batch, tmp_path: Path) -> None:
    lines = batch.trained["diabetes"].data_path.read_text().splitlines()
    lines.insert(4, lines[4] + ",extra,fields")
    source = tmp_path / "in.csv"
    source.write_text("\n".join(lines) + "\n")
    with pytest.raises(MmpError, match="cannot read"):
        batch.run("diabetes", source, tmp_path / "o.csv")
    result = batch.run("diabetes", source, tmp_path / "o.csv", on_error="skip")
    rejects = read_output(tmp_path / "o.rejects.csv")
    assert result.rows_rejected == 1 and result.rows_scored == len(lines) - 2
    assert rejects["column"].tolist() == ["(record)"]
    assert "has 14 fields, expected 12" in rejects["reason"].iloc[0]


def test_a_broken_json_line_goes_to_the_rejects(batch: Batch, tmp_path: Path) -> None:
    frame = batch.frame("diabetes").head(20)
    lines = frame.to_json(orient="records", lines=True).splitlines()
    lines[3] = lines[3][:-5]
    source = tmp_path / "in.jsonl"
    source.write_text("\n".join(lines) + "\n")
    result = batch.run("diabetes", source, tmp_path / "o.parquet", on_error="skip")
    assert (result.rows_scored, result.rows_rejected) == (19, 1)
    assert "record 4 is not a JSON object" in read_output(tmp_path / "o.rejects.csv")["reason"].iloc[0]


def test_the_loaded_model_stays_out_of_full_collections(batch: Batch, tmp_path: Path) -> None:
    """After `load_scorer` the heap is frozen (mmp.core.heap): the job's full GC passes never walk
    the model and the libraries again (a job whose 398k rows were all rejected: 29.6 -> 23.3 s)."""
    import gc

    from mmp.core.progress import NullProgress
    from mmp.pipelines.batch import BatchJob
    from mmp.pipelines.batch.job import load_scorer, plan

    example = batch.trained["diabetes"]
    job = BatchJob(
        model_uri=example.registered_uri,
        data_path=str(example.data_path),
        output_path=str(tmp_path / "o.csv"),
    )
    try:
        scorer, _ = load_scorer(plan(job, batch.config), batch.config, NullProgress())
        assert not any(o is scorer.pipeline for o in gc.get_objects()), "the job's pipeline is frozen"
    finally:
        gc.unfreeze()
