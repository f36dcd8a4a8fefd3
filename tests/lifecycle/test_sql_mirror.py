"""The optional `model_deployments` mirror, against SQLite and a real PostgreSQL server."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from mmp.core.errors import MmpError
from tests.lifecycle.conftest import Lab


def _story(lab: Lab, config: Any, url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    from mmp.lifecycle.promote import PromoteRequest, RollbackRequest, promote, rollback
    from mmp.lifecycle.sql_mirror import URL_ENV, SqlMirror

    monkeypatch.setenv(URL_ENV, url)
    name = lab.register("bad", "good", "bad")
    data = str(lab.eval_data)
    assert promote(PromoteRequest(name, "1", force=True, reason="first"), config).promoted
    assert promote(PromoteRequest(name, "2", data_path=data), config).promoted
    assert not promote(PromoteRequest(name, "3", data_path=data), config).promoted
    rollback(RollbackRequest(name, reason="region 3"), config)
    rows = [r for r in SqlMirror(url).rows() if r["model_name"] == name]
    assert [(r["action"], r["from_version"], r["version"], r["status"]) for r in rows] == [
        ("force", None, "1", "archived"),
        ("promote", "1", "2", "archived"),
        ("refused", "2", "3", "refused"),
        ("rollback", "2", "1", "active"),
    ]
    assert rows[1]["metric"] == "accuracy" and rows[1]["challenger_value"] > rows[1]["champion_value"]
    assert rows[1]["data_rows"] == 1500 and len(rows[1]["data_sha256"]) == 64
    assert rows[0]["archived_at"] is not None and rows[3]["archived_at"] is None
    assert rows[3]["reason"] == "region 3"


def test_sqlite_mirror(lab: Lab, config: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _story(lab, config, f"sqlite:///{tmp_path / 'deployments.db'}", monkeypatch)


@pytest.mark.slow
def test_postgresql_mirror(
    lab: Lab,
    config: Any,
    monkeypatch: pytest.MonkeyPatch,
    postgres_url: str,
) -> None:
    _story(lab, config, postgres_url, monkeypatch)


def test_an_unreachable_mirror_moves_nothing_and_records_nothing(
    lab: Lab, config: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    import mlflow

    from mmp.lifecycle.ledger import history
    from mmp.lifecycle.promote import PromoteRequest, promote
    from mmp.lifecycle.sql_mirror import URL_ENV

    monkeypatch.setenv(URL_ENV, "postgresql+psycopg://mmp:s3cret@127.0.0.1:1/nowhere")
    name = lab.register("good")
    with pytest.raises(MmpError, match="cannot write the deployments table") as caught:
        promote(PromoteRequest(name, "1", data_path=str(lab.eval_data)), config)
    assert "s3cret" not in str(caught.value)
    client = mlflow.MlflowClient(lab.tracking_uri)
    with pytest.raises(mlflow.exceptions.MlflowException):
        client.get_model_version_by_alias(name, "champion")  # the alias move was undone
    assert history(lab.client(), name) == []
