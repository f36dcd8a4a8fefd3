"""`mmp monitor` through the real CLI: exit codes, outputs, and bad input as one located line."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from mmp.monitoring.profile import ReferenceProfile


def mmp(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MMP_", "MLFLOW_"))}
    command = [sys.executable, "-m", "mmp.cli.main", *args]
    return subprocess.run(command, capture_output=True, text=True, env=env, timeout=300, cwd=cwd)


def test_alert_exit_code_json_and_report(
    reference: tuple[ReferenceProfile, Path], shifted_log: Path, tmp_path: Path
) -> None:
    done = mmp(
        "monitor", "--reference-profile", str(reference[1]), "--data", str(shifted_log), "--window", "1d",
        "--report", "r.html", "--output-json", "r.json", "--json", cwd=tmp_path,
    )  # fmt: skip
    assert done.returncode == 3, done.stderr
    printed = json.loads(done.stdout)
    written = json.loads((tmp_path / "r.json").read_text())
    assert printed["status"] == written["status"] == "alert"
    assert [w["status"] for w in written["windows"]].count("alert") == 10
    html = (tmp_path / "r.html").read_text()
    assert (
        "id='status-table'" in html
        and "<script" not in html
        and "http://" not in html.replace("http://www.w3.org/2000/svg", "")
    )


BAD = [
    ("other-model", "no column 'x1', 'x2', 'x3', 'x4', 'region' that model 'churn' takes as input"),
    ("empty-window", "no rows to monitor between"),
    ("wrong-labels", "row 1: label 'maybe' is not a class of the model"),
    ("no-profile", "reference profile not found: missing.json"),
]


@pytest.mark.parametrize(("case", "message"), BAD, ids=[b[0] for b in BAD])
def test_bad_input_is_one_located_line_exit_1_and_no_report(
    case: str, message: str, reference: tuple[ReferenceProfile, Path], stable_log: Path, tmp_path: Path
) -> None:
    args = ["--reference-profile", str(reference[1]), "--data", str(stable_log)]
    if case == "other-model":
        other = tmp_path / "other.parquet"
        pd.DataFrame(
            {"age": [1, 2], "served_at": pd.to_datetime(["2026-01-01", "2026-01-02"], utc=True)}
        ).to_parquet(other)
        args = ["--reference-profile", str(reference[1]), "--data", str(other)]
    elif case == "empty-window":
        args += ["--since", "2030-01-01"]
    elif case == "wrong-labels":
        labels = tmp_path / "labels.csv"
        labels.write_text("request_id,label\nr0-1,1\nr0-2,maybe\n")
        args += ["--labels", str(labels)]
    elif case == "no-profile":
        args = ["--reference-profile", "missing.json", "--data", str(stable_log)]
    done = mmp("monitor", *args, "--report", "r.html", "--output-json", "r.json", cwd=tmp_path)
    assert done.returncode == 1, done.stderr
    assert message in done.stderr
    assert "Traceback" not in done.stderr
    assert not (tmp_path / "r.html").exists() and not (tmp_path / "r.json").exists()
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".r.")] == []
