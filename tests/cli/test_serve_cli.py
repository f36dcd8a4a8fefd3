"""`mmp serve-api` as a command: options, environment variables, cheap early errors."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest


def _mmp(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    import os

    return subprocess.run(
        [sys.executable, "-m", "mmp.cli.main", *args],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, **(env or {})},
    )


def test_help_lists_the_options_and_their_environment_variables() -> None:
    result = _mmp("serve-api", "--help")
    assert result.returncode == 0
    for option in (
        "--run-id",
        "--model-uri",
        "--config-path",
        "--host",
        "--port",
        "--workers",
        "--reload-interval",
    ):
        assert option in result.stdout
    for variable in ("MMP_MODEL_URI", "MMP_RUN_ID", "MMP_CONFIG_PATH", "MMP_HOST", "MMP_PORT", "MMP_WORKERS"):
        assert variable in result.stdout
    assert "MMP_API_KEYS" in result.stdout


def test_importing_the_command_stays_light() -> None:
    code = (
        "import sys, mmp.cli.main, mmp.cli.serve; "
        "print(sorted(m for m in ('fastapi', 'uvicorn', 'mlflow', 'sklearn', 'pandas') if m in sys.modules))"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert result.stdout.strip() == "[]"


def test_exactly_one_model_source() -> None:
    result = _mmp("serve-api", "--run-id", "abc", "--model-uri", "models:/x/1")
    assert result.returncode == 1
    assert "exactly one of --run-id and --model-uri" in result.stderr
    assert _mmp("serve-api").returncode == 1


def test_a_missing_local_folder_fails_fast(tmp_path: Path) -> None:
    result = _mmp("serve-api", "--model-uri", str(tmp_path / "nothing"))
    assert result.returncode == 1
    assert "no model at" in result.stderr and "Traceback" not in result.stderr


def test_settings_come_from_config_then_options(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from mmp.serving.launch import settings_from_options

    config = tmp_path / "config.yaml"
    config.write_text(
        "mlflow:\n  tracking_uri: sqlite:///from-config.db\nserving:\n  port: 9100\n  workers: 3\n"
        "  api_keys_env: TEAM_KEYS\n  reload_interval_s: 5\n",
        encoding="utf-8",
    )
    monkeypatch.setenv("MLFLOW_TRACKING_URI", "sqlite:///from-env.db")
    settings = settings_from_options("run123", None, config, port=9200, workers=None)
    assert settings.model_uri == "runs:/run123/model"
    assert settings.tracking_uri == "sqlite:///from-config.db"  # an explicit config wins
    assert (settings.port, settings.workers, settings.reload_interval_s) == (9200, 3, 5.0)
    monkeypatch.setenv("TEAM_KEYS", "a, b ,")
    assert settings.keys() == ("a", "b")
    without_config = settings_from_options(None, "models:/churn@champion", None)
    assert without_config.tracking_uri == "sqlite:///from-env.db"
    assert without_config.port == 8000


def test_settings_survive_the_trip_through_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    from pydantic import SecretStr

    from mmp.serving.settings import SETTINGS_ENV, ServeSettings

    settings = ServeSettings(model_uri="models:/m@a", workers=2, api_keys=(SecretStr("hidden"),))
    env = settings.to_env()
    assert "hidden" not in env[SETTINGS_ENV]  # keys never travel in the settings copy
    monkeypatch.setenv(SETTINGS_ENV, env[SETTINGS_ENV])
    restored = ServeSettings.from_env()
    assert restored.model_uri == "models:/m@a" and restored.workers == 2 and restored.api_keys is None


def test_each_setting_comes_from_option_then_environment_then_config(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from mmp.core.errors import MmpError
    from mmp.serving.launch import settings_from_options

    config = tmp_path / "config.yaml"
    config.write_text("serving:\n  workers: 3\n  micro_batch_max_wait_ms: 5\n", encoding="utf-8")
    monkeypatch.setenv("MMP_WORKERS", "4")
    monkeypatch.setenv("MMP_RELOAD_INTERVAL_S", "7")
    monkeypatch.setenv("MMP_API_KEYS", "not-a-setting")  # read by its own rule, never parsed here
    from_env = settings_from_options("run123", None, config)
    assert (from_env.workers, from_env.reload_interval_s, from_env.micro_batch_max_wait_ms) == (4, 7.0, 5.0)
    assert settings_from_options("run123", None, config, workers=2).workers == 2
    monkeypatch.setenv("MMP_WORKERS", "zero")
    with pytest.raises(MmpError, match="serving setting workers"):
        settings_from_options("run123", None, config)
