"""Fixtures for serving tests: each example model loaded once, and apps built around it."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

import pytest

from tests.conftest import TrainedExample

if TYPE_CHECKING:
    from fastapi.testclient import TestClient

    from mmp.core.model_store import LoadedModel


@pytest.fixture(scope="session")
def loaded_models(trained: dict[str, TrainedExample]) -> dict[str, LoadedModel]:
    """Every example model, loaded from the registry once per session."""
    from mmp.core.model_store import load_model

    return {name: load_model(ex.registered_uri, ex.tracking_uri) for name, ex in trained.items()}


ClientFactory = Callable[..., Any]


@pytest.fixture
def serve(
    trained: dict[str, TrainedExample], loaded_models: dict[str, LoadedModel]
) -> Iterator[Callable[..., Any]]:
    """`with serve("diabetes", max_batch_records=5) as client:` a TestClient around a live app."""
    from fastapi.testclient import TestClient

    from mmp.serving.app import create_app
    from mmp.serving.settings import ServeSettings

    @contextmanager
    def factory(name: str, preload: bool = True, **settings: Any) -> Iterator[TestClient]:
        example = trained[name]
        config = ServeSettings(
            model_uri=example.registered_uri, tracking_uri=example.tracking_uri, **settings
        )
        app = create_app(config, loaded=loaded_models[name] if preload else None)
        with TestClient(app, raise_server_exceptions=False) as client:
            yield client

    yield factory


def wait_ready(client: TestClient, timeout_s: float = 60.0) -> dict[str, Any]:
    """Poll /ready until 200 (bounded); return its body."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        response = client.get("/ready")
        if response.status_code == 200:
            return response.json()
        time.sleep(0.05)
    raise AssertionError(f"not ready after {timeout_s}s: {client.get('/ready').json()}")


def example_body(client: TestClient) -> dict[str, Any]:
    """The request example the app publishes in its OpenAPI (taken from the training data)."""
    schema = client.get("/openapi.json").json()
    ref = schema["paths"]["/predict"]["post"]["requestBody"]["content"]["application/json"]["schema"]["$ref"]
    return dict(schema["components"]["schemas"][ref.rsplit("/", 1)[-1]]["examples"][0])


def assert_error(response: Any, status: int, code: str) -> dict[str, Any]:
    """The one error shape: status, code, message, request id (same as the header), fields."""
    assert response.status_code == status, response.text
    body = response.json()
    assert set(body) == {"error"}
    error = body["error"]
    assert set(error) == {"code", "message", "request_id", "fields"}
    assert error["code"] == code, error
    assert error["message"]
    assert error["request_id"] == response.headers["x-request-id"]
    assert "Traceback" not in response.text
    return error
