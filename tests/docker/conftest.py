"""One private Docker engine and one built project image for every container test of the session.

`mmp init` a project (which puts mmp's wheel in its wheels/), lock it (`uv lock`, as `uv sync` does),
train and export the example model, and `docker build` the api image on a private dockerd with a
stand-in python:3.11-slim base (tests/docker/engine.py). The size the image adds over its base and
the build time (with the background builds below running beside it) are printed and written to
$MMP_DOCKER_CACHE/last-image-build.json.

The other images the selected tests need from the project alone (the compose stack's PostgreSQL and
MLflow server, the build without a lock file) start building beside the training, in the
background: the container tests run one after the other on one xdist worker, and these builds
spend much of their time waiting on downloads and layer commits rather than on a core.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from mmp.scaffold.examples import EXAMPLES, sample_record
from mmp.scaffold.project import create_project
from tests.docker.engine import (
    BASE_TAG,
    Engine,
    EngineUnavailable,
    cache_dir,
    ensure_base_image,
    ensure_packages,
    ensure_postgres_image,
    running_engine,
)

TAG = "mmp-e2e/shop-api"
MLFLOW_TAG = f"{TAG}-mlflow"
UNLOCKED_TAG = f"{TAG}-unlocked"
EXAMPLE = EXAMPLES["classification"]


@dataclass
class Background:
    """Image builds started beside the model's training; `image` waits for one (or builds it now)."""

    builds: dict[str, Callable[[], str]]
    started: dict[str, Future[str]] = field(default_factory=dict)

    def image(self, name: str) -> str:
        future = self.started.get(name)
        return future.result() if future is not None else self.builds[name]()


def image_builds(engine: Engine, project: Path) -> dict[str, Callable[[], str]]:
    """The images that need only the generated project (no trained model): name -> build, tag."""

    def postgres() -> str:
        return ensure_postgres_image(engine, engine.root / "base")

    def mlflow() -> str:
        context = project / "docker" / "mlflow"
        engine.docker("build", "-t", MLFLOW_TAG, str(context), timeout=1800)
        return MLFLOW_TAG

    def unlocked() -> str:
        """The runtime target of a copy without uv.lock: what a user builds before any `uv sync`."""
        copy = project.parent / "unlocked"
        shutil.copytree(project, copy, ignore=shutil.ignore_patterns("uv.lock", "model"))
        engine.docker("build", "--target", "runtime", "-t", UNLOCKED_TAG, str(copy), timeout=1800)
        return UNLOCKED_TAG

    return {"postgres": postgres, "mlflow": mlflow, "unlocked": unlocked}


# Which selected tests need which background image (by node id).
NEEDED_BY = {
    "postgres": "tests/docker/test_stack.py::test_train_job",
    "mlflow": "tests/docker/test_stack.py::test_train_job",
    "unlocked": "tests/docker/test_image.py::test_image_builds_without_a_lock_file",
}


@dataclass(frozen=True)
class Built:
    """The engine, the generated project (with its exported model) and the answer to expect."""

    engine: Engine
    project: Path
    record: dict[str, Any]
    expected: Any
    probabilities: dict[str, float] | None
    added_mb: float
    build_seconds: float
    background: Background


def run_mmp(*args: str, cwd: Path) -> dict[str, Any]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MLFLOW_", "MMP_"))}
    done = subprocess.run(
        [sys.executable, "-m", "mmp.cli.main", *args, "--json"],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout)


@pytest.fixture(scope="session")
def engine() -> Iterator[Engine]:
    try:
        ensure_packages()
    except EngineUnavailable as exc:
        pytest.skip(str(exc))
    root = Path(tempfile.mkdtemp(prefix="mmp-dockerd-", dir="/tmp"))  # short: unix socket paths
    try:
        with running_engine(root) as started:
            ensure_base_image(started, root / "base")
            yield started
    finally:
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture(scope="session")
def built(
    engine: Engine, tmp_path_factory: pytest.TempPathFactory, request: pytest.FixtureRequest
) -> Iterator[Built]:
    with ThreadPoolExecutor(max_workers=2, thread_name_prefix="image-build") as pool:
        yield _build(engine, tmp_path_factory, request, pool)


def _build(
    engine: Engine,
    tmp_path_factory: pytest.TempPathFactory,
    request: pytest.FixtureRequest,
    pool: ThreadPoolExecutor,
) -> Built:
    import pandas as pd

    from mmp.core.model_store import load_model
    from mmp.core.scoring import model_input, predict

    work = tmp_path_factory.mktemp("image")
    project = create_project("shop-api", "classification", work).path
    uv = shutil.which("uv")
    assert uv is not None, "uv is not on PATH: the test suite runs through `uv run` (see README)"
    assert list((project / "wheels").glob("mmp_toolkit-*.whl")), "mmp init put mmp's wheel in wheels/"
    # What `uv sync` leaves for a user: a lock, which the image build then follows exactly.
    lock = subprocess.run([uv, "lock"], cwd=project, capture_output=True, text=True, timeout=600)
    assert lock.returncode == 0, lock.stderr[-3000:]
    selected = [item.nodeid for item in request.session.items]
    background = Background(image_builds(engine, project))
    for name in ("postgres", "mlflow", "unlocked"):  # two at a time
        if any(nodeid.startswith(NEEDED_BY[name]) for nodeid in selected):
            background.started[name] = pool.submit(background.builds[name])

    config = work / "config.yaml"
    config.write_text(
        f"mlflow:\n  tracking_uri: sqlite:///{work / 'mlruns.db'}\n  experiment: e2e\n"
        f"  artifact_location: {work / 'artifacts'}\n"
    )
    run = run_mmp("train", "-r", EXAMPLE.recipe_path, "-c", str(config), cwd=project)
    run_mmp("export-model", "--run-id", run["run_id"], "-c", str(config), "--output", "model", cwd=project)

    record = sample_record(project / EXAMPLE.data_path, EXAMPLE.target)
    local = load_model(str(project / "model"))
    answer = predict(local.pipeline, local.contract, model_input(local.contract, pd.DataFrame([record])))
    probabilities = None
    if answer.probabilities is not None and answer.classes is not None:
        probabilities = {
            str(c): float(p) for c, p in zip(answer.classes, answer.probabilities[0], strict=True)
        }

    started = time.perf_counter()
    engine.docker("build", "-t", TAG, str(project), timeout=1800)
    build_seconds = time.perf_counter() - started
    added_mb = (engine.image_size(TAG) - engine.image_size(BASE_TAG)) / 1e6
    measurements = {
        "image": TAG,
        "added_over_base_mb": round(added_mb, 1),
        "build_seconds": round(build_seconds, 1),
    }
    (cache_dir() / "last-image-build.json").write_text(json.dumps(measurements, indent=2))
    print(f"\nimage {TAG}: +{added_mb:.0f} MB over {BASE_TAG}, built in {build_seconds:.0f} s")
    return Built(
        engine, project, record, answer.values[0], probabilities, added_mb, build_seconds, background
    )


def wait_healthy(engine: Engine, container: str, timeout: float = 240) -> None:
    """Until Docker's own HEALTHCHECK reports healthy; the container's logs if it never does."""
    deadline = time.monotonic() + timeout
    status = ""
    while time.monotonic() < deadline:
        state = engine.docker("inspect", "-f", "{{.State.Status}} {{.State.Health.Status}}", container).stdout
        running, _, status = state.strip().partition(" ")
        if status == "healthy":
            return
        if running != "running":
            break
        time.sleep(1)
    logs = engine.docker("logs", "--tail", "60", container, check=False)
    raise AssertionError(f"{container} never became healthy ({status}):\n{logs.stdout}\n{logs.stderr}")


def http(url: str, body: dict[str, Any] | None = None) -> tuple[int, dict[str, Any]]:
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(url, data=data, headers={"content-type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read() or b"{}")
