"""Chunking never changes the answer: boundaries inside entity groups, row groups, many files, workers."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from tests.pipelines.batch.conftest import Batch, read_output


def test_rechunk_cuts_exact_sizes_across_batches() -> None:
    import pyarrow as pa

    from mmp.pipelines.batch.readers import rechunk

    batches = [
        pa.record_batch({"x": list(range(start, start + n))}) for start, n in ((0, 7), (7, 3), (10, 12))
    ]
    tables = list(rechunk(batches, 5))
    assert [t.num_rows for t in tables] == [5, 5, 5, 5, 2]
    assert [v for t in tables for v in t["x"].to_pylist()] == list(range(22))


@pytest.mark.parametrize("chunk_rows", [37, 52, 53, 100_000])
def test_chunk_boundaries_inside_entity_groups_keep_rows_and_order(
    batch: Batch, tmp_path: Path, chunk_rows: int
) -> None:
    """Each (store, sku) has 52 consecutive weekly rows; 37 and 53 cut every group somewhere."""
    import pandas as pd
    import pyarrow as pa
    import pyarrow.parquet as pq

    frame = batch.frame("retail_sell_through").head(520)
    frame["week_start"] = pd.to_datetime(frame["week_start"])
    source = tmp_path / "in.parquet"
    pq.write_table(pa.Table.from_pandas(frame, preserve_index=False), source, row_group_size=70)
    out = tmp_path / "out.parquet"
    result = batch.run("retail_sell_through", source, out, chunk_rows=chunk_rows)
    got = read_output(out)
    assert result.rows_read == result.rows_scored == 520
    keys = ["store_id", "sku", "week_start"]
    assert got[keys].astype(str).values.tolist() == frame[keys].astype(str).values.tolist()
    np.testing.assert_allclose(got["prediction"], batch.expected("retail_sell_through", frame), rtol=1e-12)
    assert pq.ParquetFile(out).metadata.num_row_groups == -(-520 // chunk_rows)


def test_csv_larger_than_one_chunk(batch: Batch, tmp_path: Path) -> None:
    """Several CSV blocks and chunks, with a chunk size that does not divide the block size."""
    import pandas as pd

    frame = pd.concat([batch.frame("diabetes")] * 30, ignore_index=True)
    frame["patient_id"] = range(len(frame))
    source = tmp_path / "in.csv"
    frame.to_csv(source, index=False)
    out = tmp_path / "out.csv"
    result = batch.run("diabetes", source, out, chunk_rows=999)
    got = read_output(out)
    assert result.rows_read == len(frame) == 13_260
    assert got["patient_id"].tolist() == frame["patient_id"].tolist()
    np.testing.assert_array_equal(got["prediction"].to_numpy(), batch.expected("diabetes", frame))


def test_two_workers_write_the_same_output_as_one(batch: Batch, tmp_path: Path) -> None:
    """Worker processes must not reorder or change anything (scored_at aside: one value per job)."""
    import pandas as pd

    frame = pd.concat([batch.frame("breast_cancer")] * 6, ignore_index=True)
    frame["patient_id"] = [f"P{i:06d}" for i in range(len(frame))]
    source = tmp_path / "in.csv"
    frame.to_csv(source, index=False)
    outputs = []
    for workers in (1, 2):
        out = tmp_path / f"out{workers}.parquet"
        result = batch.run("breast_cancer", source, out, chunk_rows=250, workers=workers, probabilities=True)
        assert result.workers == workers
        outputs.append(read_output(out).drop(columns=["scored_at"]))
    pd.testing.assert_frame_equal(outputs[0], outputs[1])
    assert outputs[0]["patient_id"].tolist() == frame["patient_id"].tolist()


def test_workers_report_bad_rows_like_one_process(batch: Batch, tmp_path: Path) -> None:
    import pandas as pd

    from mmp.core.errors import MmpError

    frame = pd.concat([batch.frame("breast_cancer")] * 2, ignore_index=True).astype({"mean_area": object})
    frame.loc[[700, 1000], "mean_area"] = "n/a?"
    source = tmp_path / "in.csv"
    frame.to_csv(source, index=False)
    with pytest.raises(MmpError, match="cannot score row 701: mean_area"):
        batch.run("breast_cancer", source, tmp_path / "o.csv", chunk_rows=100, workers=2)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in.csv"]
    result = batch.run(
        "breast_cancer", source, tmp_path / "o.csv", chunk_rows=100, workers=2, on_error="skip"
    )
    assert read_output(tmp_path / "o.rejects.csv")["row"].tolist() == [701, 1001]
    assert result.rows_scored == len(frame) - 2


def test_an_error_stops_the_workers_without_a_traceback_from_the_pool() -> None:
    """A chunk fails while later chunks wait in the pool: stopping must not crash loky's threads.

    Cancelling the waiting tasks, or killing the pool before it queued them, made loky's manager
    thread die with `InvalidStateError` or `KeyError` (a traceback on stderr, a CI failure) in
    about half of these rounds, leaving the workers alive and the interpreter hung at exit.
    pytest fails the test on any unhandled thread exception.
    """
    import time

    import psutil
    import pyarrow as pa

    from mmp.pipelines.batch.parallel import WorkerPool

    class FailsOnFourthChunk:
        def __call__(self, chunk: pa.Table, first_row: int) -> int:
            if first_row == 3:
                raise ValueError("bad chunk")
            time.sleep(0.2)
            return first_row

    for _ in range(3):
        pool = WorkerPool.start(2)
        pool.load(FailsOnFourthChunk())  # type: ignore[arg-type]
        scored = []
        try:
            with pytest.raises(ValueError, match="bad chunk"):
                for result in pool.score((pa.table({"x": [k]}), k) for k in range(50)):
                    scored.append(result)
        finally:
            pool.close(wait=False)
        assert scored == [0, 1, 2]
        # A dead manager thread also left the workers alive, and the interpreter hung at exit.
        workers = [p for p in psutil.Process().children() if "LokyProcess" in " ".join(p.cmdline())]
        assert psutil.wait_procs(workers, timeout=10)[1] == []
