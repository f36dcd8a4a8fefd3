"""The weekly loop in real processes: a server follows the champion alias through retrains and a rollback."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from typing import Any

import pytest

from tests.lifecycle.conftest import Lab
from tests.ports import free_port
from tests.serving.test_server_process import _ready, _server


def _mmp(*args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MMP_", "MLFLOW_"))}
    return subprocess.run(
        [sys.executable, "-m", "mmp.cli.main", *args], capture_output=True, text=True, env=env, timeout=300
    )


class Traffic:
    """Requests /predict in a loop on a thread; records every status and answering version."""

    def __init__(self, port: int, body: dict[str, Any]) -> None:
        import httpx

        self.client = httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=30)
        self.body = body
        self.answers: list[tuple[int, str | None]] = []
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self) -> None:
        while not self.stop.is_set():
            response = self.client.post("/predict", json=self.body)
            version = response.json().get("model", {}).get("version") if response.status_code == 200 else None
            self.answers.append((response.status_code, version))
            time.sleep(0.02)

    def wait_for(self, version: str, timeout_s: float = 60) -> None:
        deadline = time.monotonic() + timeout_s
        seen = len(self.answers)
        while time.monotonic() < deadline:
            if any(v == version for _, v in self.answers[seen:]):
                return
            time.sleep(0.05)
        raise AssertionError(f"the server never answered with version {version}: {self.answers[-3:]}")

    def close(self) -> None:
        self.stop.set()
        self.thread.join(timeout=30)
        self.client.close()


@pytest.mark.slow
def test_retrain_promote_refuse_rollback_with_a_live_server(lab: Lab) -> None:
    import mlflow

    name = lab.register("bad")  # last week's weak model is the champion
    mlflow.MlflowClient(lab.tracking_uri).set_registered_model_alias(name, "champion", "1")
    config = ["-c", str(lab.config_path)]
    port = free_port()
    args = ["-m", f"models:/{name}@champion", "--reload-interval", "0.3", "--port", str(port), *config]
    with _server(args, {"MLFLOW_TRACKING_URI": lab.tracking_uri}) as process:
        assert _ready(port, process)["model"]["version"] == "1"
        body = {"customer_id": 1, "x1": 0.3, "x2": -1.2, "region": "north"}
        traffic = Traffic(port, body)
        try:
            traffic.wait_for("1")
            retrain = [
                "retrain",
                "-r",
                str(lab.recipe_path),
                *config,
                "--eval-data",
                str(lab.eval_data),
                "--register-as",
                name,
                "--promote",
                "champion",
                "--actor",
                "weekly-job",
                "--json",
            ]
            better = _mmp(*retrain, "-d", str(lab.good_data))
            assert better.returncode == 0, better.stderr
            assert json.loads(better.stdout)["promotion"]["promoted"] is True
            traffic.wait_for("2")

            worse = _mmp(*retrain, "-d", str(lab.bad_data))
            assert worse.returncode == 3, worse.stderr
            refused = json.loads(worse.stdout)["promotion"]
            assert refused["promoted"] is False and refused["version"] == "3"

            back = _mmp("rollback", name, "--reason", "bad answers in the north", *config)
            assert back.returncode == 0, back.stderr
            traffic.wait_for("1")
        finally:
            traffic.close()
    statuses = {status for status, _ in traffic.answers}
    assert statuses == {200}, f"failed requests during the swaps: {statuses}"
    history = _mmp("history", name, *config, "--json")
    entries = json.loads(history.stdout)
    assert [(e["action"], e["from_version"], e["to_version"]) for e in entries] == [
        ("rollback", "2", "1"),
        ("refused", "2", "3"),
        ("promote", "1", "2"),
    ]
    assert "gain" in entries[1]["decision"] and entries[1]["actor"] == "weekly-job"
    assert entries[0]["reason"] == "bad answers in the north"
