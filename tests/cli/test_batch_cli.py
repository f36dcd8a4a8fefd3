"""`mmp batch-inference` through the real CLI: environment variables, JSON result, one-line errors."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from tests.conftest import TrainedExample


def _mmp(*args: str, env: dict[str, str] | None = None, code: str | None = None, cwd: Path | None = None):
    """Run the CLI in a fresh process (or `code` with the same argv), never in the repo folder."""
    full = {k: v for k, v in os.environ.items() if not k.startswith(("MMP_", "MLFLOW_"))}
    full.update(env or {})
    command = [sys.executable, "-c", code, *args] if code else [sys.executable, "-m", "mmp.cli.main", *args]
    return subprocess.run(command, capture_output=True, text=True, env=full, timeout=300, cwd=cwd)


def test_options_come_from_the_environment(
    trained: dict[str, TrainedExample], session_store: tuple[str, Path], tmp_path: Path
) -> None:
    """What a container sets: MMP_RUN_ID, MMP_DATA_PATH, MMP_OUTPUT_PATH, MMP_CONFIG_PATH."""
    import pandas as pd

    example = trained["diabetes"]
    out = tmp_path / "scores.csv"
    env = {
        "MMP_RUN_ID": example.run_id,
        "MMP_DATA_PATH": str(example.data_path),
        "MMP_OUTPUT_PATH": str(out),
        "MMP_CONFIG_PATH": str(session_store[1]),
    }
    done = _mmp("batch-inference", "--json", env=env, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    assert result["rows_scored"] == len(pd.read_csv(example.data_path)) == len(pd.read_csv(out))
    assert result["model"]["run_id"] == example.run_id
    assert result["rows_per_s"] > 0

    again = _mmp("batch-inference", env=env)
    assert again.returncode == 1
    assert again.stderr.splitlines() == [
        f"Error: the output {out} already exists",
        "Fix: pass --force to replace it",
    ]
    forced = _mmp("batch-inference", "--force", "--model-uri", example.registered_uri,
                  env={**env, "MMP_RUN_ID": ""})  # fmt: skip
    assert forced.returncode == 0, forced.stderr
    assert "Batch inference" in forced.stdout and "rows scored" in forced.stdout


def test_one_line_errors(
    trained: dict[str, TrainedExample], session_store: tuple[str, Path], tmp_path: Path
) -> None:
    example = trained["diabetes"]
    both = _mmp(
        "batch-inference", "--run-id", "x", "--model-uri", "y", "-d", "in.csv", "-o", "o.csv", cwd=tmp_path
    )
    assert both.returncode == 1 and "give exactly one of --run-id and --model-uri" in both.stderr
    source = tmp_path / "in.csv"
    source.write_text("patient_id,age\n1,50\n")
    missing = _mmp("batch-inference", "--run-id", example.run_id, "-c", str(session_store[1]),
                   "-d", str(source), "-o", str(tmp_path / "o.parquet"))  # fmt: skip
    assert missing.returncode == 1
    errors = [line for line in missing.stderr.splitlines() if line.startswith("Error:")]
    assert len(errors) == 1 and errors[0].startswith(f"Error: {source} is missing the columns 'bmi', 'bp', ")
    assert "Traceback" not in missing.stderr
    assert not (tmp_path / "o.parquet").exists()


def test_spark_engine_without_pyspark_names_the_extra(
    trained: dict[str, TrainedExample], session_store: tuple[str, Path], tmp_path: Path
) -> None:
    example = trained["diabetes"]
    blocked = "import sys; sys.modules['pyspark'] = None; from mmp.cli.main import run; run(sys.argv[1:])"
    done = _mmp("batch-inference", "--run-id", example.run_id, "-c", str(session_store[1]),
                "-d", str(example.data_path), "-o", str(tmp_path / "o.parquet"), "--engine", "spark",
                code=blocked)  # fmt: skip
    assert done.returncode == 1
    error, fix = done.stderr.splitlines()
    assert error == "Error: 'pyspark' is not installed (it comes with mmp's 'spark' extra)"
    assert fix.startswith("Fix: uv sync --extra spark (or pip install -e '.[spark]')"), "a checkout's fix"
    unsupported = _mmp("batch-inference", "--run-id", example.run_id, "-d", str(example.data_path),
                       "-o", str(tmp_path / "o.csv"), "--engine", "spark", cwd=tmp_path)  # fmt: skip
    assert unsupported.returncode == 1 and "--engine spark writes Parquet" in unsupported.stderr
