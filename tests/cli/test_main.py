"""The CLI edge: instant help, one-line errors with exit 1, usage errors exit 2, Ctrl-C exits 130."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from tests.conftest import DATA, RECIPES, NewStore

HEAVY = ("mlflow", "sklearn", "pandas", "numpy", "fastapi", "uvicorn", "pyarrow", "scipy", "sqlalchemy")


def mmp(*args: str, cwd: Path | None = None, env: dict[str, str] | None = None, timeout: int = 300):
    full_env = {**os.environ, **(env or {})}
    for name in list(full_env):
        if name.startswith(("MLFLOW_", "MMP_")) and name not in (env or {}):
            del full_env[name]
    return subprocess.run(
        [sys.executable, "-m", "mmp.cli.main", *args],
        capture_output=True,
        text=True,
        cwd=cwd,
        env=full_env,
        timeout=timeout,
    )


def test_help_of_every_command_imports_no_heavy_library() -> None:
    """`mmp --help` and each subcommand's help must not import the ML stack (they must be instant)."""
    script = textwrap.dedent(
        f"""
        import sys
        from mmp.cli.main import app, run
        import typer.main
        names = [c.name for c in typer.main.get_command(app).commands.values()]
        for args in [["--help"], ["--version"], *[[n, "--help"] for n in names]]:
            try:
                run(args)
            except SystemExit as exc:
                assert exc.code in (0, None), (args, exc.code)
        heavy = sorted(m for m in sys.modules if m.split(".")[0] in {HEAVY!r})
        print("HEAVY:" + ",".join(heavy))
        print("COMMANDS:" + ",".join(names))
        """
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    lines = dict(
        line.split(":", 1) for line in done.stdout.splitlines() if line.startswith(("HEAVY", "COMMANDS"))
    )
    assert lines["HEAVY"] == ""
    assert {"train", "validate"} <= set(lines["COMMANDS"].split(","))


def test_version() -> None:
    from mmp import __version__

    done = mmp("--version")
    assert done.returncode == 0 and done.stdout.strip() == f"mmp {__version__}"


def test_user_error_is_one_red_line_with_the_fix_and_exit_1(tmp_path: Path) -> None:
    done = mmp("validate", "--recipe-path", str(tmp_path / "missing.yaml"))
    assert done.returncode == 1
    assert "Traceback" not in done.stderr
    assert "Error: recipe not found" in done.stderr and "Fix: check the path" in done.stderr


def test_debug_keeps_the_traceback(tmp_path: Path) -> None:
    done = mmp("--debug", "validate", "--recipe-path", str(tmp_path / "missing.yaml"))
    assert done.returncode == 1 and "Traceback" in done.stderr and "MmpError" in done.stderr


def test_usage_error_exits_2() -> None:
    done = mmp("train")
    assert done.returncode == 2 and "--recipe-path" in done.stderr


def test_validate_reports_what_training_will_use() -> None:
    done = mmp(
        "validate",
        "-r",
        str(RECIPES / "retail_sell_through.yaml"),
        "-d",
        str(DATA / "retail_sell_through.csv"),
        "--json",
    )
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    assert report["valid"] and report["timestamp_column"] == "week_start"
    assert report["categorical_columns"] == ["category", "region", "on_promotion"]
    assert "units_sold" not in report["numeric_columns"] + report["categorical_columns"]


@pytest.mark.parametrize(
    ("mutate", "expected"),
    [
        (lambda f: f.drop(columns=["sex"]), "categorical_columns: column 'sex' is not in the data"),
        (
            lambda f: f.assign(disease_progression=f["disease_progression"].where(f.index > 3)),
            "has 4 missing values",
        ),
        (lambda f: f.head(8), "the train split has"),
        (lambda f: f.assign(disease_progression="high"), "needs numbers"),
    ],
    ids=["missing-column", "target-nulls", "too-few-rows", "target-type"],
)
def test_validate_checks_the_data(tmp_path: Path, mutate, expected: str) -> None:
    import pandas as pd

    data = tmp_path / "data.csv"
    mutate(pd.read_csv(DATA / "diabetes.csv")).to_csv(data, index=False)
    done = mmp("validate", "-r", str(RECIPES / "diabetes.yaml"), "-d", str(data))
    assert done.returncode == 1, done.stdout
    assert expected in done.stderr and "Traceback" not in done.stderr


def test_validate_finds_classes_missing_from_a_split(tmp_path: Path) -> None:
    import pandas as pd

    frame = pd.read_csv(DATA / "breast_cancer.csv")
    rare = pd.concat([frame, frame.head(1).assign(diagnosis="unsure")])
    data = tmp_path / "data.csv"
    rare.to_csv(data, index=False)
    done = mmp("validate", "-r", str(RECIPES / "breast_cancer.yaml"), "-d", str(data))
    assert done.returncode == 1
    assert "unsure" in done.stderr


def test_train_prints_a_summary_and_json(tmp_path: Path, new_store: NewStore) -> None:
    config = tmp_path / "config.yaml"
    config.write_text(f"mlflow:\n  tracking_uri: {new_store(tmp_path, 'db.sqlite')}\n", encoding="utf-8")
    done = mmp(
        "train",
        "-r",
        str(RECIPES / "diabetes.yaml"),
        "-c",
        str(config),
        "-d",
        str(DATA / "diabetes.csv"),
        "--register-as",
        "diabetes",
        "--json",
    )
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    assert result["registered_model"] == "diabetes" and result["registered_version"] == "1"
    assert set(result["metrics"]) >= {"val_rmse", "test_rmse", "test_r2"}
    assert "Fitting HistGradientBoostingRegressor" in done.stderr


def test_train_uses_local_defaults_without_a_config(tmp_path: Path) -> None:
    """No --config-path: a SQLite store in the working directory, never the refused ./mlruns file store."""
    done = mmp("train", "-r", str(RECIPES / "diabetes.yaml"), "-d", str(DATA / "diabetes.csv"), cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "mlruns.db").is_file()
    assert "run id" in done.stdout and "test_rmse" in done.stdout


@pytest.mark.slow
def test_ctrl_c_exits_130(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MLFLOW_", "MMP_"))}
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "mmp.cli.main",
            "train",
            "-r",
            str(RECIPES / "breast_cancer.yaml"),
            "-d",
            str(DATA / "breast_cancer.csv"),
        ],
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    # Interrupted once it is at work (its first progress line), not after a fixed sleep: on a busy
    # machine the interpreter may still be starting after seconds, before Python handles SIGINT.
    assert proc.stderr is not None
    seen = []
    for line in proc.stderr:
        seen.append(line)
        if "Loading data" in line:
            break
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=120)
    err = "".join(seen) + err
    assert proc.returncode == 130, err[-2000:]
    assert "Traceback" not in err
