"""Optional API keys: Bearer or X-API-Key, 401 in the error shape, /health and /ready stay open."""

from __future__ import annotations

import logging
from typing import Any

import pytest

from tests.serving.conftest import assert_error, example_body

KEYS = "first-key-0123,second-key-4567"


@pytest.fixture
def locked(serve: Any, monkeypatch: pytest.MonkeyPatch) -> Any:
    monkeypatch.setenv("MMP_API_KEYS", KEYS)
    with serve("diabetes") as client:
        yield client


def test_no_keys_means_open(serve: Any) -> None:
    with serve("diabetes") as client:
        assert client.post("/predict", json=example_body(client)).status_code == 200
        assert "securitySchemes" not in client.get("/openapi.json").json().get("components", {})


def test_missing_or_wrong_key_is_401(locked: Any) -> None:
    body = example_body(locked)  # /openapi.json is public by default
    error = assert_error(locked.post("/predict", json=body), 401, "unauthorized")
    assert "Bearer" in error["message"]
    assert assert_error(
        locked.post("/predict", json=body, headers={"X-API-Key": "nope"}), 401, "unauthorized"
    )
    wrong_scheme = {"Authorization": "Basic first-key-0123"}
    assert_error(locked.post("/predict", json=body, headers=wrong_scheme), 401, "unauthorized")
    assert locked.post("/predict", json=body).headers["www-authenticate"].startswith("Bearer")


@pytest.mark.parametrize(
    "headers",
    [
        {"Authorization": "Bearer first-key-0123"},
        {"Authorization": "bearer second-key-4567"},
        {"X-API-Key": "second-key-4567"},
    ],
)
def test_either_header_and_any_configured_key_works(locked: Any, headers: dict[str, str]) -> None:
    assert locked.post("/predict", json=example_body(locked), headers=headers).status_code == 200
    assert locked.get("/model", headers=headers).status_code == 200


@pytest.mark.parametrize("path", ["/model", "/metrics", "/stats"])
def test_operational_routes_need_the_key(locked: Any, path: str) -> None:
    assert_error(locked.get(path), 401, "unauthorized")


@pytest.mark.parametrize("path", ["/health", "/ready", "/docs", "/openapi.json"])
def test_health_ready_and_docs_stay_open(locked: Any, path: str) -> None:
    assert locked.get(path).status_code == 200


def test_auth_is_checked_before_the_body_is_read(locked: Any) -> None:
    # An unauthenticated client learns nothing about the schema and cannot make the server parse.
    assert_error(locked.post("/predict", content=b"{broken"), 401, "unauthorized")


def test_docs_can_be_locked_too(serve: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MMP_API_KEYS", KEYS)
    with serve("diabetes", docs_public=False) as client:
        assert_error(client.get("/openapi.json"), 401, "unauthorized")
        assert client.get("/openapi.json", headers={"X-API-Key": "first-key-0123"}).status_code == 200
        assert client.get("/health").status_code == 200


def test_keys_from_a_variable_named_in_the_config(serve: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SCORING_KEYS", "only-this-one")
    with serve("diabetes", api_keys_env="SCORING_KEYS") as client:
        assert_error(client.get("/model"), 401, "unauthorized")
        assert client.get("/model", headers={"X-API-Key": "only-this-one"}).status_code == 200


def test_openapi_documents_the_security_schemes(locked: Any) -> None:
    schema = locked.get("/openapi.json").json()
    assert set(schema["components"]["securitySchemes"]) == {"bearer", "apiKey"}
    predict = schema["paths"]["/predict"]["post"]
    assert predict["security"] == [{"bearer": []}, {"apiKey": []}]
    assert "401" in predict["responses"]
    assert "security" not in schema["paths"]["/health"]["get"]


def test_keys_never_reach_the_logs(locked: Any, caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.DEBUG):
        locked.post("/predict", json=example_body(locked), headers={"X-API-Key": "first-key-0123"})
        locked.post("/predict", json={}, headers={"Authorization": "Bearer wrong-guess-999"})
    assert "first-key-0123" not in caplog.text
    assert "wrong-guess-999" not in caplog.text
