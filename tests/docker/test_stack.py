"""The compose stack's services, run as docker-compose.yml declares them, with a real PostgreSQL.

No registry is reachable here, so images cannot be pulled and `docker compose up` cannot run as is.
This test runs the same services by hand on one network, each with the image, command, environment
and healthcheck read from the generated docker-compose.yml: `postgres` (a local stand-in for
postgres:16 built from Debian's `postgresql` package, tests/docker/engine.py), the MLflow server
image built from docker/mlflow/Dockerfile with its backend store on that PostgreSQL, the `train`
job that registers the model through the server, and the `api` that serves `models:/NAME/latest`.
It checks that the registry lives in PostgreSQL, that artifacts are proxied (`mlflow-artifacts:/...`,
never a host path) and that the API answers like the model trained on the host.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.docker.conftest import TAG, Built, http, wait_healthy
from tests.docker.engine import Engine
from tests.ports import free_port

pytestmark = [pytest.mark.docker, pytest.mark.slow]

_VARIABLE = re.compile(r"\$\{(?P<name>[A-Za-z_][A-Za-z0-9_]*)(?::?(?P<op>[-?])(?P<arg>[^}]*))?\}")


def interpolate(value: str, env: dict[str, str]) -> str:
    """Compose's `${VAR}`, `${VAR:-default}` and `${VAR:?error}` against `env`."""

    def one(match: re.Match[str]) -> str:
        name, op, arg = match["name"], match["op"], match["arg"]
        if env.get(name):
            return env[name]
        if op == "-":
            return arg
        raise AssertionError(f"compose would refuse to start: {name} is not set ({arg})")

    return _VARIABLE.sub(one, value)


# What `.env` holds for the stack (.env.example's POSTGRES_PASSWORD, set by the user).
DOT_ENV = {"POSTGRES_PASSWORD": "stack-test-password"}


def environment_flags(service: dict[str, Any], env: dict[str, str]) -> list[str]:
    flags = []
    for name, value in service.get("environment", {}).items():
        flags += ["-e", f"{name}={interpolate(str(value), env)}"]
    return flags


def healthcheck_flags(service: dict[str, Any]) -> list[str]:
    """The service's compose healthcheck as `docker run` flags, polled every second here."""
    test = service["healthcheck"]["test"]
    kind, *command = test
    assert kind in ("CMD", "CMD-SHELL"), test
    shell = command[0] if kind == "CMD-SHELL" else " ".join(command)
    return ["--health-cmd", shell, "--health-interval", "1s", "--health-retries", "60"]


@pytest.fixture(scope="module")
def network(built: Built) -> Iterator[str]:
    name = f"mmp-e2e-{os.getpid()}"
    built.engine.docker("network", "create", name)
    yield name
    built.engine.docker("network", "rm", name, check=False)


@pytest.fixture(scope="module")
def compose(built: Built) -> dict[str, Any]:
    return yaml.safe_load((built.project / "docker-compose.yml").read_text())


@pytest.fixture(scope="module")
def postgres(built: Built, compose: dict[str, Any], network: str) -> Iterator[str]:
    """The `postgres` service on the network (alias `postgres`), healthy by its own pg_isready."""
    engine, service = built.engine, compose["services"]["postgres"]
    image = built.background.image("postgres")
    assert service["image"] == image, "the stand-in is tagged as the image compose names"
    name = f"mmp-e2e-postgres-{os.getpid()}"
    engine.docker(
        "run",
        "-d",
        "--name",
        name,
        "--network",
        network,
        "--network-alias",
        "postgres",
        *healthcheck_flags(service),
        *environment_flags(service, DOT_ENV),
        image,
    )
    try:
        wait_healthy(engine, name)
        yield name
    finally:
        engine.docker("rm", "-f", name, check=False)


@pytest.fixture(scope="module")
def tracking_server(built: Built, compose: dict[str, Any], network: str, postgres: str) -> Iterator[int]:
    """The `mlflow` service on the network (alias `mlflow`), published on a free local port, its
    backend store on the `postgres` service (MLFLOW_BACKEND_STORE_URI as compose resolves it)."""
    engine, service = built.engine, compose["services"]["mlflow"]
    assert service["build"]["context"] == "docker/mlflow"
    image = built.background.image("mlflow")  # built from that context
    port = free_port()
    name = f"mmp-e2e-mlflow-{port}"
    engine.docker(
        "run",
        "-d",
        "--name",
        name,
        "--network",
        network,
        "--network-alias",
        "mlflow",
        "-p",
        f"127.0.0.1:{port}:5000",
        "--health-interval",
        "1s",
        *environment_flags(service, DOT_ENV),
        image,
        *service["command"],
    )
    try:
        wait_healthy(engine, name)
        yield port
    finally:
        engine.docker("rm", "-f", name, check=False)


def _run_job(engine: Engine, project: Path, compose: dict[str, Any], job: str, network: str) -> str:
    service = compose["services"][job]
    image = f"{TAG}-{job}"
    engine.docker("build", "--target", service["build"]["target"], "-t", image, str(project), timeout=1800)
    done = engine.docker(
        "run",
        "--rm",
        "--network",
        network,
        *environment_flags(service, {}),
        image,
        *service.get("command", []),
        check=False,
        timeout=900,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    return done.stdout


# Its fixtures build the PostgreSQL and MLflow images (the first run also bootstraps the PostgreSQL
# rootfs, ~1-4 min): pytest-timeout counts set-up, so this test gets more than the default 600 s.
@pytest.mark.timeout(1500)
def test_train_job_registers_through_the_server_and_the_api_serves_it(
    built: Built, compose: dict[str, Any], network: str, tracking_server: int, postgres: str
) -> None:
    import mlflow

    engine = built.engine
    server = engine.docker("top", f"mmp-e2e-mlflow-{tracking_server}").stdout
    assert "uvicorn" in server, server
    assert "huey" not in server and "job_runner" not in server, "MLflow's GenAI job runner is off"
    _run_job(engine, built.project, compose, "train", network)

    client = mlflow.MlflowClient(f"http://127.0.0.1:{tracking_server}")
    (version,) = client.search_model_versions("name='shop_api'")
    run = client.get_run(version.run_id)
    assert run.info.artifact_uri.startswith("mlflow-artifacts:/"), "artifacts are proxied by the server"
    in_postgres = engine.docker(
        "exec", postgres, "psql", "-U", "mlflow", "-d", "mlflow", "-tAc", "SELECT name FROM registered_models"
    )
    assert in_postgres.stdout.split() == ["shop_api"], "the registry lives in PostgreSQL"

    api = compose["services"]["api"]
    port = free_port()
    name = f"mmp-e2e-stack-api-{port}"
    engine.docker(
        "run",
        "-d",
        "--name",
        name,
        "--network",
        network,
        "-p",
        f"127.0.0.1:{port}:8000",
        "--health-interval",
        "1s",
        *environment_flags(api, {}),
        TAG,
    )
    try:
        wait_healthy(engine, name)
        status, answer = http(f"http://127.0.0.1:{port}/predict", built.record)
        assert status == 200, answer
        assert answer["prediction"] == built.expected, "same recipe, data and seed as the host's model"
        assert answer["model"]["run_id"] == version.run_id
    finally:
        engine.docker("rm", "-f", name, check=False)


def test_compose_refuses_to_start_without_the_database_password(compose: dict[str, Any]) -> None:
    backend = compose["services"]["mlflow"]["environment"]["MLFLOW_BACKEND_STORE_URI"]
    with pytest.raises(AssertionError, match="POSTGRES_PASSWORD is not set"):
        interpolate(backend, {})
    resolved = interpolate(backend, {"POSTGRES_PASSWORD": "s3cret"})
    assert resolved == "postgresql+psycopg://mlflow:s3cret@postgres:5432/mlflow"
