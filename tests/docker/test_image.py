"""A real image of a generated project: healthy by its own HEALTHCHECK, answering like the local model.

The engine, the project and the api image come from tests/docker/conftest.py; this module also
builds and runs the batch and train targets.
"""

from __future__ import annotations

import json
import os

import pandas as pd
import pytest

from tests.docker.conftest import EXAMPLE, TAG, Built, http, wait_healthy
from tests.docker.engine import BASE_TAG
from tests.ports import free_port

pytestmark = [pytest.mark.docker, pytest.mark.slow]

MAX_ADDED_MB = 400  # the budget for a scikit-learn model image over its base


def test_image_adds_less_than_the_budget_over_its_base(built: Built) -> None:
    assert built.added_mb < MAX_ADDED_MB, f"the image adds {built.added_mb:.0f} MB over {BASE_TAG}"


def test_container_is_healthy_and_predicts_like_the_local_model(built: Built) -> None:
    engine, port = built.engine, free_port()
    name = f"mmp-e2e-api-{port}"
    engine.docker("run", "-d", "--name", name, "-p", f"127.0.0.1:{port}:8000", "--health-interval", "1s", TAG)
    try:
        wait_healthy(engine, name)
        assert http(f"http://127.0.0.1:{port}/health")[0] == 200
        status, answer = http(f"http://127.0.0.1:{port}/predict", built.record)
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
        scored = pd.read_parquet(out)
        source = pd.read_csv(built.project / EXAMPLE.data_path)
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


def test_image_builds_without_a_lock_file(built: Built) -> None:
    """Before any `uv sync` there is no uv.lock: the newest versions pyproject allows are installed."""
    engine, tag = built.engine, built.background.image("unlocked")  # conftest.image_builds
    done = engine.docker(
        "run",
        "--rm",
        "--entrypoint",
        "python",
        tag,
        "-c",
        "import mmp, mlflow, sklearn, importlib.metadata as m; print(m.version('mlflow-skinny'))",
    )
    assert done.stdout.strip()
    missing = engine.docker("run", "--rm", "--entrypoint", "python", tag, "-c", "import pyarrow", check=False)
    assert missing.returncode != 0, "pyarrow is only in the train and batch targets"
    engine.docker("rmi", tag, check=False)
