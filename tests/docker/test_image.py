"""A real image of a generated project: built, started, healthy by its own HEALTHCHECK, answering.

`mmp init` a project, build mmp's wheel into its wheels/, train and export the example model,
`docker build` it (api, then the batch and train targets) on a private dockerd with a stand-in
python:3.11-slim base (tests/docker/engine.py), run it and compare its /predict answer with the
prediction made locally from the same exported model. The size the image adds over its base and
the build time are printed and written to $MMP_DOCKER_CACHE/last-image-build.json.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from mmp.scaffold.examples import EXAMPLES, sample_record
from mmp.scaffold.project import create_project
from tests.conftest import REPO
from tests.docker.engine import (
    BASE_TAG,
    Engine,
    EngineUnavailable,
    cache_dir,
    ensure_base_image,
    ensure_packages,
    running_engine,
)

pytestmark = [pytest.mark.docker, pytest.mark.slow]

MAX_ADDED_MB = 400  # the budget for a scikit-learn model image over its base
TAG = "mmp-e2e/shop-api"


@dataclass(frozen=True)
class Built:
    engine: Engine
    project: Path
    record: dict[str, Any]
    expected: Any
    probabilities: dict[str, float] | None


def _mmp(*args: str, cwd: Path) -> dict[str, Any]:
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


@pytest.fixture(scope="module")
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


@pytest.fixture(scope="module")
def built(engine: Engine, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Built]:
    from mmp.core.model_store import load_model
    from mmp.core.scoring import model_input, predict

    work = tmp_path_factory.mktemp("image")
    project = create_project("shop-api", "classification", work).path
    uv = shutil.which("uv")
    assert uv is not None, "uv is not on PATH: the test suite runs through `uv run` (see README)"
    wheel = subprocess.run(
        [uv, "build", "--wheel", "--out-dir", str(project / "wheels"), str(REPO)],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert wheel.returncode == 0, wheel.stderr[-3000:]

    config = work / "config.yaml"
    config.write_text(
        f"mlflow:\n  tracking_uri: sqlite:///{work / 'mlruns.db'}\n  experiment: e2e\n"
        f"  artifact_location: {work / 'artifacts'}\n"
    )
    example = EXAMPLES["classification"]
    run = _mmp("train", "-r", example.recipe_path, "-c", str(config), cwd=project)
    _mmp("export-model", "--run-id", run["run_id"], "-c", str(config), "--output", "model", cwd=project)

    record = sample_record(project / example.data_path, example.target)
    local = load_model(str(project / "model"))
    import pandas as pd

    frame = model_input(local.contract, pd.DataFrame([record]))
    answer = predict(local.pipeline, local.contract, frame)
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
    yield Built(engine, project, record, answer.values[0], probabilities)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _wait_healthy(engine: Engine, container: str, timeout: float = 240) -> None:
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
    raise AssertionError(f"container never became healthy ({status}):\n{logs.stdout}\n{logs.stderr}")


def _http(url: str, body: dict[str, Any] | None = None) -> tuple[int, dict[str, Any]]:
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(url, data=data, headers={"content-type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read() or b"{}")


def test_image_adds_less_than_the_budget_over_its_base(built: Built) -> None:
    added = (built.engine.image_size(TAG) - built.engine.image_size(BASE_TAG)) / 1e6
    assert added < MAX_ADDED_MB, f"the image adds {added:.0f} MB over {BASE_TAG}"


def test_container_is_healthy_and_predicts_like_the_local_model(built: Built) -> None:
    engine, port = built.engine, _free_port()
    name = f"mmp-e2e-api-{port}"
    engine.docker("run", "-d", "--name", name, "-p", f"127.0.0.1:{port}:8000", "--health-interval", "1s", TAG)
    try:
        _wait_healthy(engine, name)
        assert _http(f"http://127.0.0.1:{port}/health")[0] == 200
        status, answer = _http(f"http://127.0.0.1:{port}/predict", built.record)
        assert status == 200, answer
        assert answer["prediction"] == built.expected
        assert built.probabilities is not None
        assert answer["probabilities"] == pytest.approx(built.probabilities)
        assert answer["entities"] == {"patient_id": built.record["patient_id"]}

        assert engine.docker("exec", name, "id", "-u").stdout.strip() == "1001"
        user = engine.docker("exec", name, "python", "-c", "import os; print(os.getuid())").stdout.strip()
        assert user == "1001"
        config = json.loads(engine.docker("inspect", "-f", "{{json .Config}}", name).stdout)
        assert config["Entrypoint"] == ["mmp"] and config["Cmd"] == ["serve-api"]
        assert "MMP_MODEL_URI=/app/model" in config["Env"]
        compilers = engine.docker("exec", name, "sh", "-c", "command -v gcc cc uv curl || true").stdout
        assert compilers.strip() == "", "the runtime image has no compiler, uv or curl"
    finally:
        engine.docker("rm", "-f", name, check=False)


def test_batch_target_scores_the_sample_data(built: Built) -> None:
    engine = built.engine
    engine.docker("build", "--target", "batch", "-t", f"{TAG}-batch", str(built.project), timeout=1800)
    name = f"mmp-e2e-batch-{os.getpid()}"
    try:
        done = engine.docker("run", "--name", name, f"{TAG}-batch", check=False, timeout=600)
        assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
        out = built.project.parent / "batch-out"
        engine.docker("cp", f"{name}:/app/outputs/predictions/predictions.parquet", str(out))
        import pandas as pd

        scored = pd.read_parquet(out)
        source = pd.read_csv(built.project / EXAMPLES["classification"].data_path)
        assert len(scored) == len(source)
        assert set(scored["prediction"]) <= {"benign", "malignant"}
    finally:
        engine.docker("rm", "-f", name, check=False)


def test_train_target_validates_its_recipe_in_the_container(built: Built) -> None:
    engine = built.engine
    engine.docker("build", "--target", "train", "-t", f"{TAG}-train", str(built.project), timeout=1800)
    done = engine.docker(
        "run",
        "--rm",
        "-e",
        "MLFLOW_TRACKING_URI=http://tracking.invalid:5000",  # prod.yaml needs it; validate never calls it
        f"{TAG}-train",
        "validate",
        "--json",
        check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    report = json.loads(done.stdout)
    assert report["valid"] and report["recipe"] == "breast_cancer"
