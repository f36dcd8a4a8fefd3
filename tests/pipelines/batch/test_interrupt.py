"""Kill a real `mmp batch-inference` mid-job: no output file, no partial file, no table, no orphans."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.conftest import TrainedExample

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def big_input(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """~400k breast-cancer rows as Parquet: many seconds of scoring on two cores."""
    import pandas as pd

    from tests.conftest import DATA

    frame = pd.read_csv(DATA / "breast_cancer.csv").drop(columns=["diagnosis"])
    big = pd.concat([frame] * 700, ignore_index=True)
    big["patient_id"] = [f"P{i:07d}" for i in range(len(big))]
    path = tmp_path_factory.mktemp("big") / "big.parquet"
    big.to_parquet(path, row_group_size=20_000)
    return path


def _start(example: TrainedExample, config: Path, data: Path, output: str, *extra: str) -> subprocess.Popen:
    keep = {"MMP_DATABASE_URL"}
    env = {k: v for k, v in os.environ.items() if k in keep or not k.startswith(("MMP_", "MLFLOW_"))}
    args = ["batch-inference", "--run-id", example.run_id, "-c", str(config), "-d", str(data), "-o", output]
    return subprocess.Popen(
        [sys.executable, "-m", "mmp.cli.main", *args, "--chunk-rows", "5000", *extra],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _freeze_once_writing(process: subprocess.Popen, folder: Path, timeout: float = 120) -> None:
    """Until the job holds an output file in `folder` with at least one chunk in it; then SIGSTOP it.

    Frozen, the job cannot finish while this (possibly descheduled) test process looks at it and
    sends its signal; `_thaw` lets it take the signal.
    """
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError("the job ended before it could be interrupted")
        for fd in Path(f"/proc/{process.pid}/fd").iterdir():
            try:
                target = os.readlink(fd)
                if target.startswith(str(folder)) and os.stat(fd).st_size > 0:
                    process.send_signal(signal.SIGSTOP)
                    return
            except OSError:
                continue
        time.sleep(0.05)
    raise AssertionError("the job never started writing")


def _signal_masks(pid: int | str) -> dict[str, str]:
    """The kernel's view of a process's signals (/proc): blocked, ignored and caught, as hex masks."""
    lines = Path(f"/proc/{pid}/status").read_text().splitlines()
    fields = (line.partition(":") for line in lines)
    return {name: value.strip() for name, _, value in fields if name in ("SigBlk", "SigIgn", "SigCgt")}


def _catches(masks: dict[str, str], sig: signal.Signals) -> bool:
    bit = 1 << (int(sig) - 1)
    return bool(int(masks["SigCgt"], 16) & bit) and not int(masks["SigBlk"], 16) & bit


def _thaw(process: subprocess.Popen) -> None:
    with contextlib.suppress(ProcessLookupError):
        process.send_signal(signal.SIGCONT)


def _finish(process: subprocess.Popen) -> tuple[int, str]:
    """Wait for the job to end (killing it if it does not) and close its pipes."""
    try:
        _, stderr = process.communicate(timeout=60)
    except subprocess.TimeoutExpired:
        process.kill()
        _, stderr = process.communicate()
    return process.returncode, stderr


def _children(pid: int) -> list[int]:
    import psutil

    return [c.pid for c in psutil.Process(pid).children(recursive=True)]


@pytest.mark.parametrize(
    ("sig", "workers"),
    [(signal.SIGKILL, 1), (signal.SIGKILL, 2), (signal.SIGTERM, 2), (signal.SIGINT, 1)],
)
def test_killed_mid_job_leaves_no_output(
    trained: dict[str, TrainedExample],
    session_store: tuple[str, Path],
    big_input: Path,
    tmp_path: Path,
    sig: signal.Signals,
    workers: int,
) -> None:
    import psutil

    out = tmp_path / "preds.parquet"
    example = trained["breast_cancer"]
    process = _start(example, session_store[1], big_input, str(out), "--workers", str(workers))
    try:
        _freeze_once_writing(process, tmp_path)
        helpers = _children(process.pid)
        pythons = [p for p in helpers if "python" in psutil.Process(p).name()]
        assert len(pythons) >= (workers if workers > 1 else 0)
        if sig != signal.SIGKILL:
            masks = _signal_masks(process.pid)
            assert _catches(masks, sig), (
                f"the job does not catch {sig.name}: job {masks}; this test process {_signal_masks('self')}"
            )
        process.send_signal(sig)
    finally:
        _thaw(process)
        code, stderr = _finish(process)
    assert code == (-9 if sig == signal.SIGKILL else 130), stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == []
    deadline = time.monotonic() + 15
    while any(psutil.pid_exists(p) and psutil.Process(p).status() != psutil.STATUS_ZOMBIE for p in helpers):
        assert time.monotonic() < deadline, "worker processes outlived the job"
        time.sleep(0.2)


@pytest.mark.parametrize("sig", [signal.SIGKILL, signal.SIGTERM])
def test_killed_mid_job_leaves_no_sql_table(
    trained: dict[str, TrainedExample],
    session_store: tuple[str, Path],
    big_input: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    sig: signal.Signals,
) -> None:
    import sqlalchemy as sa

    url = f"sqlite:///{tmp_path / 'scores.db'}"
    monkeypatch.setenv("MMP_DATABASE_URL", url)
    process = _start(trained["breast_cancer"], session_store[1], big_input, "sql://scores")
    try:
        journal = tmp_path / "scores.db-journal"
        deadline = time.monotonic() + 120
        while not (journal.exists() and journal.stat().st_size > 0):
            assert process.poll() is None, "the job ended before it could be interrupted"
            assert time.monotonic() < deadline, "the job never started writing"
            time.sleep(0.05)
        time.sleep(0.5)
        process.send_signal(signal.SIGSTOP)  # as in _freeze_once_writing
        assert process.poll() is None, "the job ended before it could be interrupted"
        process.send_signal(sig)
    finally:
        _thaw(process)
        code, stderr = _finish(process)
    assert code == (-9 if sig == signal.SIGKILL else 130), stderr
    engine = sa.create_engine(url)
    try:
        with engine.connect() as conn:  # opening rolls back a hot journal left by kill -9
            assert sa.inspect(conn).get_table_names() == []
    finally:
        engine.dispose()
