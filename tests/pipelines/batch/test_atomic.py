"""Nothing partial is ever visible: atomic files, overwrite rules, failures mid-job, stale partials."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from mmp.core.errors import MmpError
from mmp.core.staged import PARTIAL_MARK, AtomicFile, sweep_stale_partials
from tests.pipelines.batch.conftest import Batch, leftovers, read_output


def test_atomic_file_has_no_name_until_commit(tmp_path: Path) -> None:
    target = tmp_path / "out.bin"
    with AtomicFile(target) as atomic:
        atomic.file.write(b"x" * 1000)
        assert leftovers(tmp_path, set()) == []  # anonymous: nothing to see, nothing to clean up
        assert atomic.anonymous
        atomic.commit()
    assert target.read_bytes() == b"x" * 1000
    assert leftovers(tmp_path, {"out.bin"}) == []


def test_atomic_file_replaces_an_old_file_whole_or_not_at_all(tmp_path: Path) -> None:
    target = tmp_path / "out.bin"
    target.write_bytes(b"old")
    with AtomicFile(target) as atomic:
        atomic.file.write(b"new but abandoned")
    assert target.read_bytes() == b"old"
    with AtomicFile(target) as atomic:
        atomic.file.write(b"new")
        atomic.commit()
    assert target.read_bytes() == b"new"
    assert leftovers(tmp_path, {"out.bin"}) == []


def test_stale_partials_of_dead_processes_are_swept(tmp_path: Path) -> None:
    target = tmp_path / "preds.parquet"
    code = "import os; print(os.getpid())"
    dead = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    stale = tmp_path / f".preds.parquet{PARTIAL_MARK}{dead.stdout.strip()}-abcd1234"
    alive = tmp_path / f".preds.parquet{PARTIAL_MARK}{os.getpid()}-abcd1234"
    stale.write_text("half")
    alive.write_text("in progress")
    assert sweep_stale_partials(target) == [stale]
    assert leftovers(tmp_path, set()) == [alive.name]


def test_an_existing_output_needs_force(batch: Batch, tmp_path: Path) -> None:
    out = tmp_path / "p.csv"
    out.write_text("precious")
    with pytest.raises(MmpError, match="already exists") as err:
        batch.run("diabetes", batch.trained["diabetes"].data_path, out)
    assert err.value.hint == "pass --force to replace it"
    assert out.read_text() == "precious"
    batch.run("diabetes", batch.trained["diabetes"].data_path, out, force=True)
    assert len(read_output(out)) == len(batch.frame("diabetes"))


def test_a_failure_mid_job_keeps_the_old_output_and_leaves_nothing(batch: Batch, tmp_path: Path) -> None:
    """A bad row in a late chunk: earlier chunks were written, yet nothing of them may remain."""
    frame = batch.frame("diabetes").astype({"bmi": object})
    frame.loc[430, "bmi"] = "heavy"
    source = tmp_path / "in.csv"
    frame.to_csv(source, index=False)
    for fmt in ("parquet", "csv", "jsonl"):
        out = tmp_path / f"p.{fmt}"
        out.write_text("old")
        with pytest.raises(MmpError, match="row 431"):
            batch.run("diabetes", source, out, chunk_rows=50, force=True)
        assert out.read_text() == "old"
    assert leftovers(tmp_path, {"in.csv", "p.parquet", "p.csv", "p.jsonl"}) == []


def test_output_and_rejects_must_differ(batch: Batch, tmp_path: Path) -> None:
    with pytest.raises(MmpError, match="is the output file"):
        batch.run("diabetes", batch.trained["diabetes"].data_path, tmp_path / "p.csv", on_error="skip",
                  rejects_path=str(tmp_path / "p.csv"))  # fmt: skip


@pytest.mark.parametrize(
    ("output", "message"),
    [
        ("p.xlsx", "unsupported output format"),
        ("p.csv.gz", "unsupported output format"),
        (None, "no output: pass --output-path"),
    ],
)
def test_bad_outputs_fail_before_the_model_loads(batch: Batch, tmp_path: Path, output, message: str) -> None:
    with pytest.raises(MmpError, match=message):
        target = None if output is None else tmp_path / output
        batch.run("diabetes", batch.trained["diabetes"].data_path, target)


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ("nowhere.csv", "data not found"),
        ("in.xlsx", "unsupported input format"),
        ("empty/", "no data files in the folder"),
        ("*.parquet", "no files match"),
        ("mixed/", "mixes formats"),
    ],
)
def test_bad_inputs_are_one_line_errors(batch: Batch, tmp_path: Path, data: str, message: str) -> None:
    (tmp_path / "in.xlsx").write_text("x")
    (tmp_path / "empty").mkdir()
    (tmp_path / "mixed").mkdir()
    (tmp_path / "mixed" / "a.csv").write_text("a\n1\n")
    (tmp_path / "mixed" / "b.parquet").write_text("x")
    with pytest.raises(MmpError, match=message):
        batch.run("diabetes", f"{tmp_path}/{data}", tmp_path / "o.csv")
