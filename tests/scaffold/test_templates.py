"""Every template option rendered, every generated YAML loaded through the real Recipe/Config models."""

from __future__ import annotations

import json
import re
import tomllib
from pathlib import Path

import jinja2
import pytest
import yaml

from mmp.core.errors import MmpError
from mmp.core.tasks import TASKS
from mmp.recipe.loader import load_config, load_recipe
from mmp.scaffold.examples import EXAMPLES, sample_record
from mmp.scaffold.names import project_names
from mmp.scaffold.project import create_project, mmp_requirement, project_context, render_project
from mmp.scaffold.render import TEMPLATE_ROOT, environment, render_template, template_paths
from tests.conftest import DATA

COMMON_FILES = {
    ".dockerignore",
    ".env.example",
    ".gitignore",
    "Dockerfile",
    "README.md",
    "configs/local.yaml",
    "configs/prod.yaml",
    "docker-compose.yml",
    "docker/mlflow/Dockerfile",
    "pyproject.toml",
    "src/sales_forecast/__init__.py",
    "tests/conftest.py",
    "tests/test_recipes.py",
    "tests/test_training.py",
    "wheels/README.md",
    # latency status and monitoring (tests/scaffold/test_monitoring.py)
    "monitoring/prometheus.yml",
    "monitoring/status.yaml",
    "monitoring/rules/latency.rules.yml",
    "monitoring/grafana/dashboards/mmp-latency.json",
    "monitoring/grafana/provisioning/dashboards/mmp.yml",
    "monitoring/grafana/provisioning/datasources/prometheus.yml",
}
# The weekly retrain schedules (tests/scaffold/test_retrain_schedules.py), for tasks with labels.
RETRAIN_FILES = {
    ".github/workflows/retrain.yml",
    "deploy/kubernetes/retrain-cronjob.yaml",
    "flows/retrain.py",
}


@pytest.fixture(params=TASKS)
def project(request: pytest.FixtureRequest, tmp_path: Path) -> Path:
    return create_project("sales-forecast", request.param, tmp_path).path


def _files(root: Path) -> set[str]:
    return {p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file()}


@pytest.mark.parametrize("task", TASKS)
def test_each_task_renders_its_example_and_the_common_files(task: str) -> None:
    example = EXAMPLES[task]
    files = {f.path: f.content for f in render_project(project_names("sales-forecast"), task, "0.1.0")}
    schedules = RETRAIN_FILES if task != "clustering" else set()
    assert set(files) == COMMON_FILES | schedules | {example.recipe_path, example.data_path}
    for path, content in files.items():
        if path.endswith(".csv"):
            continue
        if path.startswith(".github/"):  # GitHub Actions expressions are ${{ ... }} by design
            continue
        text = content.decode("utf-8")
        own_braces = path.startswith(("monitoring/rules/", "monitoring/grafana/dashboards/"))
        tags = r"\{%|%\}" if own_braces else r"\{\{|\{%|%\}"  # Prometheus and Grafana use {{ }} too
        assert not re.search(tags, text), f"{path} has an unrendered Jinja tag"
        assert text.endswith("\n"), f"{path} does not end with a newline"


def test_generated_yaml_loads_through_the_real_models(project: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (recipe_path,) = (project / "recipes").glob("*.yaml")
    recipe = load_recipe(recipe_path).model
    assert recipe.data.source is not None and (project / recipe.data.source).is_file()
    assert recipe.task in TASKS

    local = load_config(project / "configs" / "local.yaml").model
    assert local.mlflow.tracking_uri == "sqlite:///mlruns.db"
    assert local.mlflow.experiment == "sales-forecast"

    with pytest.raises(MmpError, match="MLFLOW_TRACKING_URI is not set"):
        load_config(project / "configs" / "prod.yaml")
    monkeypatch.setenv("MLFLOW_TRACKING_URI", "http://mlflow:5000")
    prod = load_config(project / "configs" / "prod.yaml").model
    assert prod.mlflow.tracking_uri == "http://mlflow:5000"
    assert prod.serving.host == "0.0.0.0"
    assert prod.serving.api_keys_env == "MMP_API_KEYS"

    compose = yaml.safe_load((project / "docker-compose.yml").read_text())
    assert isinstance(compose["services"], dict)


def test_generated_recipe_passes_validate_against_its_sample_data(
    project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from mmp.pipelines.validate import validate_recipe

    monkeypatch.chdir(project)  # data.source is relative to the project folder
    (recipe_path,) = Path("recipes").glob("*.yaml")
    report = validate_recipe(recipe_path, Path("configs/local.yaml"))
    assert report.rows > 100
    assert all(n > 0 for n in report.split.values())


def test_pyproject_depends_on_mmp_and_finds_local_wheels(project: Path) -> None:
    pyproject = tomllib.loads((project / "pyproject.toml").read_text())
    assert pyproject["project"]["name"] == "sales-forecast"
    (mmp_dep,) = [d for d in pyproject["project"]["dependencies"] if d.startswith("mmp-toolkit")]
    assert mmp_dep.startswith("mmp-toolkit[serving]")
    assert pyproject["tool"]["uv"]["find-links"] == ["wheels"]
    assert pyproject["tool"]["hatch"]["build"]["targets"]["wheel"]["packages"] == ["src/sales_forecast"]
    assert pyproject["tool"]["pytest"]["ini_options"]["pythonpath"] == ["src"]


@pytest.mark.parametrize(
    ("version", "expected"),
    [
        ("0.1.0", "mmp-toolkit[serving]>=0.1.0,<0.2"),
        ("0.12.3.dev4", "mmp-toolkit[serving]>=0.12.3,<0.13"),
        ("1.4.2", "mmp-toolkit[serving]>=1.4.2,<2"),
        ("2.0", "mmp-toolkit[serving]>=2.0.0,<3"),
        ("0.0.0+unknown", "mmp-toolkit[serving]"),
    ],
)
def test_mmp_requirement_pins_the_compatible_range(version: str, expected: str) -> None:
    assert mmp_requirement(version) == expected


def test_ignore_files_keep_secrets_and_stores_out(project: Path) -> None:
    gitignore = (project / ".gitignore").read_text().splitlines()
    assert {".env", "mlruns*", "outputs/", "/model/"} <= set(gitignore)
    dockerignore = [line for line in (project / ".dockerignore").read_text().splitlines() if line]
    rules = [line for line in dockerignore if not line.startswith("#")]
    assert rules[0] == "*", "the build context is an allowlist"
    allowed = {line[1:].rstrip("/") for line in rules if line.startswith("!")}
    assert allowed == {"pyproject.toml", "uv.lock", "README.md", "src", "wheels", "configs", "recipes"} | {
        "data",
        "model",
    }
    assert "**/.env" in rules


def test_readme_request_is_a_real_record_without_the_target(project: Path) -> None:
    readme = (project / "README.md").read_text()
    body = re.search(r"-d '(\{.*\})'", readme)
    assert body is not None
    record = json.loads(body[1])
    (recipe_path,) = (project / "recipes").glob("*.yaml")
    recipe = load_recipe(recipe_path).model
    interface = recipe.data.data_interface
    assert interface.target_column not in record
    assert set(interface.entity_columns) <= set(record)
    header = (project / recipe.data.source).read_text().splitlines()[0].split(",")
    assert set(record) == set(header) - {interface.target_column}


def test_sample_record_keeps_json_types(tmp_path: Path) -> None:
    csv_path = tmp_path / "x.csv"
    csv_path.write_text("id,n,x,flag,day,label\nA1,,1.5,True,2024-01-01,y\nA2,3,-0.25,False,2024-01-08,n\n")
    assert sample_record(csv_path, "label") == {
        "id": "A2",
        "n": 3,
        "x": -0.25,
        "flag": False,
        "day": "2024-01-08",
    }


@pytest.mark.parametrize("name", ["breast_cancer.csv", "diabetes.csv", "retail_sell_through.csv"])
def test_template_sample_data_matches_the_repository_examples(name: str) -> None:
    assert (TEMPLATE_ROOT / "data" / name).read_bytes() == (DATA / name).read_bytes()


def test_clustering_sample_is_breast_cancer_measurements_without_the_diagnosis() -> None:
    import pandas as pd

    cells = pd.read_csv(TEMPLATE_ROOT / "data" / "cell_measurements.csv")
    source = pd.read_csv(DATA / "breast_cancer.csv")
    assert "diagnosis" not in cells.columns
    pd.testing.assert_frame_equal(cells, source[list(cells.columns)])


def test_strict_undefined_fails_on_a_missing_variable() -> None:
    context = project_context(project_names("demo"), EXAMPLES["regression"], "0.1.0")
    del context["uv_version"]
    with pytest.raises(jinja2.UndefinedError, match="uv_version"):
        render_template("Dockerfile.jinja", context)


def test_one_environment_for_every_template() -> None:
    env = environment()
    assert env is environment()
    assert env.undefined is jinja2.StrictUndefined
    assert all(not p.endswith(".pyc") and "__pycache__" not in p for p in template_paths())


def test_a_checkout_install_of_mmp_ships_its_wheel_in_wheels(tmp_path: Path) -> None:
    from mmp.core.installation import installation
    from tests.conftest import REPO

    assert installation().kind == "checkout" and installation().path == REPO
    created = create_project("demo", "regression", tmp_path)
    assert created.wheel is not None and created.wheel.startswith("wheels/mmp_toolkit-")
    wheel = created.path / created.wheel
    assert wheel.is_file() and created.wheel in created.files
    import zipfile

    names = zipfile.ZipFile(wheel).namelist()
    assert "mmp/cli/templates/project/README.md.jinja" in names, "the wheel is a full mmp"
    again = create_project("demo2", "regression", tmp_path)
    assert not again.wheel_built, "the second init copies the cached wheel"


def test_a_local_wheel_is_copied_and_an_index_install_ships_nothing(tmp_path: Path) -> None:
    from mmp.core.installation import Installation
    from mmp.scaffold.wheel import ship_mmp_wheel

    wheel = tmp_path / "mmp_toolkit-9.9.9-py3-none-any.whl"
    wheel.write_bytes(b"wheel")
    (tmp_path / "p" / "wheels").mkdir(parents=True)
    old = tmp_path / "p" / "wheels" / "mmp_toolkit-0.0.1-py3-none-any.whl"
    old.write_bytes(b"old")
    shipped = ship_mmp_wheel(tmp_path / "p" / "wheels", Installation("local", wheel, "pip"))
    assert shipped.wheel == tmp_path / "p" / "wheels" / wheel.name and not shipped.built
    assert shipped.wheel.read_bytes() == b"wheel" and not old.exists(), "one mmp-toolkit wheel"
    assert ship_mmp_wheel(tmp_path / "q", Installation("index", None, "pip")).wheel is None
    with pytest.raises(MmpError, match="no longer exists"):
        ship_mmp_wheel(tmp_path / "r", Installation("local", tmp_path / "gone.whl", "pip"))
