"""`mmp export-model`: a folder that loads and predicts like the original, without a tracking server."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from mmp.cli.main import app
from mmp.core.errors import MmpError
from tests.conftest import TrainedExample

runner = CliRunner()


def _export(*args: str, env: dict[str, str] | None = None):
    return runner.invoke(app, ["export-model", *args, "--json"], env=env)


def test_export_by_run_id_predicts_like_the_run(
    trained: dict[str, TrainedExample], session_store: tuple[str, Path], tmp_path: Path
) -> None:
    import pandas as pd

    from mmp.core.model_store import load_model
    from mmp.core.scoring import model_input, predict

    example = trained["retail_sell_through"]
    _, config = session_store
    result = _export(
        "--run-id", example.run_id, "--config-path", str(config), "--output", str(tmp_path / "m")
    )
    assert result.exit_code == 0, result.output
    summary = json.loads(result.output)
    assert summary["recipe"] == "retail_sell_through" and summary["task"] == "timeseries"
    assert summary["run_id"] == example.run_id
    assert summary["request_columns"][:2] == ["store_id", "sku"]
    assert summary["size_bytes"] > 0

    exported = load_model(str(tmp_path / "m"))
    original = load_model(f"runs:/{example.run_id}/model", example.tracking_uri)
    frame = pd.read_csv(example.data_path).head(50)
    ours = predict(exported.pipeline, exported.contract, model_input(exported.contract, frame))
    theirs = predict(original.pipeline, original.contract, model_input(original.contract, frame))
    assert list(ours.values) == list(theirs.values)


def test_export_a_registered_version_from_the_environment(
    trained: dict[str, TrainedExample], session_store: tuple[str, Path], tmp_path: Path
) -> None:
    _, config = session_store
    env = {"MMP_MODEL_URI": trained["diabetes"].registered_uri, "MMP_CONFIG_PATH": str(config)}
    result = _export("--output", str(tmp_path / "model"), env=env)
    assert result.exit_code == 0, result.output
    assert json.loads(result.output)["source"] == "models:/diabetes/1"
    assert (tmp_path / "model" / "MLmodel").is_file()


def test_export_refuses_a_non_empty_folder_unless_forced(
    trained: dict[str, TrainedExample], session_store: tuple[str, Path], tmp_path: Path
) -> None:
    _, config = session_store
    target = tmp_path / "model"
    target.mkdir()
    (target / "old.txt").write_text("old")
    args = [
        "--run-id",
        trained["breast_cancer"].run_id,
        "--config-path",
        str(config),
        "--output",
        str(target),
    ]
    refused = _export(*args)
    assert isinstance(refused.exception, MmpError)
    assert (
        "already exists" in refused.exception.message
        and refused.exception.hint == "pass --force to replace it"
    )
    assert (target / "old.txt").exists()

    forced = _export(*args, "--force")
    assert forced.exit_code == 0, forced.output
    assert not (target / "old.txt").exists() and (target / "MLmodel").is_file()


@pytest.mark.parametrize(
    "args",
    [[], ["--run-id", "abc", "--model-uri", "models:/x/1"]],
    ids=["neither", "both"],
)
def test_exactly_one_model_reference(args: list[str], tmp_path: Path) -> None:
    result = _export(*args, "--output", str(tmp_path / "m"))
    assert isinstance(result.exception, MmpError)
    assert "exactly one of --run-id and --model-uri" in result.exception.message


def test_unknown_run_is_one_line_and_leaves_nothing_behind(
    mlflow_store: tuple[str, Path], tmp_path: Path
) -> None:
    _, config = mlflow_store
    result = _export(
        "--run-id", "0" * 32, "--config-path", str(config), "--output", str(tmp_path / "out" / "model")
    )
    assert isinstance(result.exception, MmpError)
    assert f"no run {'0' * 32}" in result.exception.message
    leftovers = list((tmp_path / "out").iterdir()) if (tmp_path / "out").exists() else []
    assert leftovers == [], "a failed export leaves no partial folder"


def test_exported_folder_is_readable_by_other_users(trained, tmp_path) -> None:
    """A container's non-root user must read a model baked into the image."""
    import stat

    from mmp.core.model_store import export_model

    example = trained["diabetes"]
    out = export_model(example.registered_uri, tmp_path / "model", example.tracking_uri)
    mode = stat.S_IMODE(out.stat().st_mode)
    assert mode & stat.S_IROTH and mode & stat.S_IXOTH, oct(mode)
