"""The weekly retrain in generated projects: compose job, Kubernetes CronJob, CI workflow, Prefect flow."""

from __future__ import annotations

import ast
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from mmp.scaffold.project import create_project

CRON = r"^\S+ \S+ \S+ \S+ \S+$"


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return create_project("churn", "classification", tmp_path_factory.mktemp("schedules")).path


def _load(path: Path) -> Any:
    return yaml.safe_load(path.read_text(encoding="utf-8"))


def _recipe(project: Path) -> str:
    (recipe,) = (project / "recipes").glob("*.yaml")
    return f"recipes/{recipe.name}"


def test_kubernetes_cronjob(project: Path) -> None:
    import re

    job = _load(project / "deploy/kubernetes/retrain-cronjob.yaml")
    assert (job["apiVersion"], job["kind"]) == ("batch/v1", "CronJob")
    spec = job["spec"]
    assert re.match(CRON, spec["schedule"]) and spec["concurrencyPolicy"] == "Forbid"
    pod = spec["jobTemplate"]["spec"]["template"]["spec"]
    assert pod["restartPolicy"] == "Never" and pod["securityContext"]["runAsNonRoot"] is True
    (container,) = pod["containers"]
    args = container["args"]
    assert args[0] == "retrain" and args[args.index("--promote") + 1] == "champion"
    env = {e["name"]: e for e in container["env"]}
    assert (project / env["MMP_RECIPE_PATH"]["value"]).is_file()
    assert (project / env["MMP_CONFIG_PATH"]["value"]).is_file()
    assert "secretKeyRef" in env["MLFLOW_TRACKING_URI"]["valueFrom"]
    (rule,) = spec["jobTemplate"]["spec"]["podFailurePolicy"]["rules"]
    assert rule["action"] == "FailJob" and rule["onExitCodes"]["values"] == [3]
    assert rule["onExitCodes"]["containerName"] == container["name"]


def test_ci_workflow_with_a_cron_trigger(project: Path) -> None:
    import re

    workflow = _load(project / ".github/workflows/retrain.yml")
    triggers = workflow.get("on", workflow.get(True))  # YAML 1.1 reads a bare `on` as true
    assert re.match(CRON, triggers["schedule"][0]["cron"]) and "workflow_dispatch" in triggers
    steps = workflow["jobs"]["retrain"]["steps"]
    script = next(s["run"] for s in steps if "mmp retrain" in s.get("run", ""))
    assert f"-r {_recipe(project)}" in script and "--promote champion" in script
    assert '"$code" -eq 3' in script  # not promoted is a notice, not a failed run
    assert workflow["jobs"]["retrain"]["env"]["MLFLOW_TRACKING_URI"] == "${{ secrets.MLFLOW_TRACKING_URI }}"
    assert "${{ github.run_number }}" in script


def test_compose_has_a_one_shot_retrain_service(project: Path) -> None:
    compose = _load(project / "docker-compose.yml")
    service = compose["services"]["retrain"]
    assert service["profiles"] == ["jobs"] and "restart" not in service
    assert service["command"][0] == "retrain" and "champion" in service["command"]
    assert (project / service["environment"]["MMP_RECIPE_PATH"]).is_file()
    assert service["build"]["target"] == "train"


def test_readme_explains_each_schedule(project: Path) -> None:
    readme = (project / "README.md").read_text(encoding="utf-8")
    for name in (
        "docker compose run --rm retrain",
        "deploy/kubernetes/retrain-cronjob.yaml",
        ".github/workflows/retrain.yml",
        "flows/retrain.py",
        "mmp history",
        "exit code 3",
    ):
        assert name in readme, name


def test_prefect_is_an_optional_dependency_and_the_flow_parses(project: Path) -> None:
    import tomllib

    pyproject = tomllib.loads((project / "pyproject.toml").read_text(encoding="utf-8"))
    assert any(d.startswith("prefect") for d in pyproject["project"]["optional-dependencies"]["prefect"])
    tree = ast.parse((project / "flows/retrain.py").read_text(encoding="utf-8"))
    calls = {
        n.func.attr for n in ast.walk(tree) if isinstance(n, ast.Call) and isinstance(n.func, ast.Attribute)
    }
    assert "serve" in calls


@pytest.mark.slow
def test_the_prefect_flow_runs_once_locally(project: Path, tmp_path: Path) -> None:
    """Prefect runs the flow with a temporary local server; the flow calls mmp's Python API."""
    pytest.importorskip("prefect", reason="prefect is an optional dependency of generated projects")
    from tests.conftest import sqlite_uri, write_config

    config = write_config(tmp_path, sqlite_uri(tmp_path), experiment="prefect")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MMP_", "MLFLOW_"))}
    env.update(
        {"PREFECT_HOME": str(tmp_path / "prefect"), "PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS": "300"}
    )
    code = (
        "import sys, json; sys.path.insert(0, 'flows'); import retrain; "
        f"out = retrain.weekly_retrain(config_path={str(config)!r}); "
        "print(json.dumps({'promoted': out['promotion']['promoted'], 'history': len(out['history'])}))"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], cwd=project, env=env, capture_output=True, text=True, timeout=600
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert '{"promoted": true, "history": 1}' in done.stdout
