"""`${VAR}` substitution and redaction: secrets are used, never shown."""

from __future__ import annotations

from pathlib import Path

import pytest

from mmp.core.errors import MmpError
from mmp.core.yamlio import load_yaml, redact, redact_url


def test_substitution_with_defaults_and_scalar_types(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MMP_TEST_PORT", "9000")
    path = tmp_path / "c.yaml"
    path.write_text(
        "port: ${MMP_TEST_PORT}\nworkers: ${MMP_TEST_WORKERS:2}\ndebug: ${MMP_TEST_DEBUG:false}\n"
        "url: http://${MMP_TEST_HOST:localhost}:${MMP_TEST_PORT}/x\n",
        encoding="utf-8",
    )
    doc = load_yaml(path)
    assert doc.data == {"port": 9000, "workers": 2, "debug": False, "url": "http://localhost:9000/x"}
    assert doc.redacted["url"] == "http://${MMP_TEST_HOST:localhost}:${MMP_TEST_PORT}/x"


def test_unset_variable_without_default_names_it(tmp_path: Path) -> None:
    path = tmp_path / "c.yaml"
    path.write_text("mlflow:\n  tracking_uri: ${MMP_TEST_UNSET_VAR}\n", encoding="utf-8")
    with pytest.raises(
        MmpError, match=r"mlflow.tracking_uri: environment variable MMP_TEST_UNSET_VAR is not set"
    ):
        load_yaml(path)


def test_secret_values_never_reach_the_redacted_tree(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MMP_TEST_DB", "postgresql://app:hunter2@db:5432/sales")
    path = tmp_path / "c.yaml"
    path.write_text(
        "db: ${MMP_TEST_DB}\nliteral: postgresql://app:s3cret@db/sales\napi_key: abc123\npassword: pw\n",
        encoding="utf-8",
    )
    doc = load_yaml(path)
    assert doc.data["db"] == "postgresql://app:hunter2@db:5432/sales"
    text = repr(doc.redacted)
    for secret in ("hunter2", "s3cret", "abc123", "'pw'"):
        assert secret not in text
    assert doc.redacted["literal"] == "postgresql://app:***@db/sales"


def test_redact_url_and_nested_keys() -> None:
    assert redact_url("mysql+pymysql://u:p%40ss@h/db?x=1") == "mysql+pymysql://u:***@h/db?x=1"
    assert redact_url("sqlite:///mlruns.db") == "sqlite:///mlruns.db"
    assert redact({"serving": {"api_keys": ["a", "b"], "port": 1}}) == {
        "serving": {"api_keys": "***", "port": 1}
    }
