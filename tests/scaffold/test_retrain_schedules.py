"""The weekly retrain in generated projects: compose job, Kubernetes CronJob, CI workflow, Prefect flow."""

from __future__ import annotations

import ast
import os
import shutil
import sqlite3
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from mmp.scaffold.project import create_project
from tests.conftest import REPO, sqlite_uri

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

    from packaging.requirements import Requirement

    pyproject = tomllib.loads((project / "pyproject.toml").read_text(encoding="utf-8"))
    (requirement,) = map(Requirement, pyproject["project"]["optional-dependencies"]["prefect"])
    # The generated project allows the Prefect version the flow is tested with (uv.lock's `flows`).
    lock = tomllib.loads((REPO / "uv.lock").read_text(encoding="utf-8"))
    (tested,) = [p["version"] for p in lock["package"] if p["name"] == "prefect"]
    assert requirement.name == "prefect" and requirement.specifier.contains(tested)
    tree = ast.parse((project / "flows/retrain.py").read_text(encoding="utf-8"))
    calls = {
        n.func.attr for n in ast.walk(tree) if isinstance(n, ast.Call) and isinstance(n.func, ast.Attribute)
    }
    assert "serve" in calls


@pytest.fixture(scope="module")
def flows_python() -> Path:
    """The generated project's Prefect environment: this checkout's mmp + prefect, from uv.lock.

    prefect pins a FastAPI older than the one the dev environment serves with, so it lives in the
    `flows` dependency group (a conflicting group of uv.lock), synced into `.venv-flows` beside
    `.venv`: under a second from uv's cache the first time, a no-op check after that.

    `--no-config` leaves out pyproject's `compile-bytecode = true` (uv 0.13 has no flag to turn it
    off): byte-compiling all 12,000 files of this environment took 20-40 s of the suite, while the
    one flow run imports a fraction of them and writes their bytecode into the environment as it
    goes. The other `[tool.uv]` settings do not apply here: `--no-default-groups` is explicit, and
    the group conflict is recorded in uv.lock, which `--locked` checks.
    """
    uv = os.environ.get("UV") or shutil.which("uv")
    assert uv, "uv is needed to sync the Prefect environment (pip install uv)"
    folder = REPO / ".venv-flows"
    env = {k: v for k, v in os.environ.items() if k not in ("VIRTUAL_ENV", "UV_COMPILE_BYTECODE")}
    env["UV_PROJECT_ENVIRONMENT"] = str(folder)
    command = [uv, "sync", "--no-config", "--locked", "--no-default-groups", "--group", "flows", "--quiet"]
    done = subprocess.run(command, cwd=REPO, env=env, capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, done.stderr[-3000:]
    return folder / "bin" / "python"


@pytest.mark.slow
def test_the_prefect_flow_runs_once_locally(project: Path, flows_python: Path, tmp_path: Path) -> None:
    """`python flows/retrain.py --once`, as the README says: Prefect starts a temporary local server.

    The flow trains the example recipe, registers it and promotes it to @champion on a temp MLflow
    store (configs/prod.yaml reads MLFLOW_TRACKING_URI); Prefect's database records both tasks.
    """
    from mmp.core.tracking import TrackingStore
    from mmp.lifecycle.ledger import history

    prefect_home = tmp_path / "prefect"
    uri = sqlite_uri(tmp_path)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MMP_", "MLFLOW_", "PREFECT_"))}
    env.pop("VIRTUAL_ENV", None)
    env.update(
        {
            "MLFLOW_TRACKING_URI": uri,
            "MMP_EXPERIMENT": "prefect",
            "PREFECT_HOME": str(prefect_home),  # its settings, logs and the temporary server's database
            "PREFECT_SERVER_ANALYTICS_ENABLED": "false",  # no network: no telemetry from the server
            "DO_NOT_TRACK": "1",  # nor from the client
            "PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS": "180",  # a loaded CI machine
        }
    )
    # The bytecode of what the flow imports is written into .venv-flows: later runs start faster.
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    env.pop("PYTHONPYCACHEPREFIX", None)
    done = subprocess.run(
        [str(flows_python), "flows/retrain.py", "--once"],
        cwd=project,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    logs = done.stdout + done.stderr
    assert done.returncode == 0, logs[-3000:]
    assert "Starting temporary server" in logs and "Finished in state Completed()" in logs

    model = _flow_constant(project, "MODEL")
    client = TrackingStore(uri).client()
    assert str(client.get_model_version_by_alias(model, "champion").version) == "1"
    (entry,) = history(client, model)
    assert (entry.action, entry.from_version, entry.to_version, entry.moved) == ("promote", None, "1", True)
    assert entry.actor == "prefect" and entry.data["input"] == "the recipe's test split"

    with sqlite3.connect(prefect_home / "prefect.db") as db:
        flows = db.execute("select state_type from flow_run").fetchall()
        tasks = dict(db.execute("select name, state_type from task_run").fetchall())
    assert flows == [("COMPLETED",)]
    assert sorted(tasks.values()) == ["COMPLETED", "COMPLETED"] and len(tasks) == 2


def _flow_constant(project: Path, name: str) -> str:
    tree = ast.parse((project / "flows/retrain.py").read_text(encoding="utf-8"))
    for node in tree.body:
        if isinstance(node, ast.Assign) and [t.id for t in node.targets if isinstance(t, ast.Name)] == [name]:
            assert isinstance(node.value, ast.Constant)
            return str(node.value.value)
    raise AssertionError(f"flows/retrain.py defines no {name}")
