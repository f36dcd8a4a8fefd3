"""`mmp get-recipe` and `mmp get-config`: from flags, or by asking on a terminal what is missing."""

from __future__ import annotations

import shlex
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING

import typer

from mmp.cli.init import ask, can_prompt, choose
from mmp.cli.options import ConfigPath, JsonOutput
from mmp.core.tasks import Task

if TYPE_CHECKING:
    from mmp.pipelines.validate import ValidationReport
    from mmp.recipe.config import SqlSettings
    from mmp.scaffold.recipes import RecipeChoices


class Environment(StrEnum):
    local = "local"
    prod = "prod"


Force = typer.Option(False, "--force", help="Replace the output file if it exists.")
NoInput = typer.Option(False, "--no-input", help="Never prompt; missing options take defaults.")


def get_recipe(
    from_data: str | None = typer.Option(
        None,
        "--from-data",
        help="Data to inspect: a CSV/Parquet file or folder, or a .sql query (uses the config's SQL "
        "connection). Proposes entities, timestamp, categorical vs numeric columns and the task.",
        show_default=False,
    ),
    target: str | None = typer.Option(None, "--target", help="Column to predict (none for clustering)."),
    task: Task | None = typer.Option(None, "--task", help="Default: guessed from the data."),
    entity: list[str] | None = typer.Option(
        None, "--entity", help="Identifier column; repeat for several. Default: proposed from the data."
    ),
    timestamp: str | None = typer.Option(None, "--timestamp", help="Event-time column. Default: detected."),
    estimator: str | None = typer.Option(
        None,
        "--estimator",
        help="random_forest, hist_gradient_boosting, logistic_regression, ridge, kmeans, lightgbm, "
        "xgboost... or a class path. Default: the first one for the task.",
    ),
    name: str | None = typer.Option(None, "--name", help="Recipe name. Default: the data file's name."),
    output: Path | None = typer.Option(None, "--output", "-o", help="Default: recipes/NAME.yaml."),
    config_path: Path | None = ConfigPath,
    force: bool = Force,
    no_input: bool = NoInput,
    json_output: bool = JsonOutput,
) -> None:
    """Write a recipe; with --from-data, one proposed from the data and checked by mmp validate."""
    from mmp.recipe.loader import load_config
    from mmp.scaffold import recipes

    prompt = can_prompt(no_input)
    if from_data is None and prompt:
        answer = typer.prompt(
            "Data to inspect (CSV/Parquet path; empty for none)", default="", show_default=False
        )
        from_data = answer.strip() or None
    if from_data is not None:
        sql = load_config(config_path).model.sql
        choices = _choices_from_data(from_data, target, task, entity, timestamp, name, estimator, prompt, sql)
    else:
        choices = _choices_without_data(target, task, entity, timestamp, name, estimator, prompt)
    path = output or Path("recipes") / f"{choices.name}.yaml"
    command = _command(from_data, target, task, entity, timestamp, prompt)
    text = recipes.recipe_yaml(choices, command)
    proposal = recipes.check_recipe(text, str(path))
    recipes.refuse_existing(path, force)
    report = None
    if from_data is not None:  # a proposal that would not validate is never written
        from mmp.pipelines.validate import validate_loaded

        report = recipes.validated(lambda: validate_loaded(proposal, load_config(config_path).model))
    recipes.write_new(path, text, force)
    _report_recipe(path, choices, report, json_output)


def _choices_from_data(
    source: str,
    target: str | None,
    task: Task | None,
    entity: list[str] | None,
    timestamp: str | None,
    name: str | None,
    estimator: str | None,
    prompt: bool,
    sql: SqlSettings,
) -> RecipeChoices:
    """Inspect the data, let a terminal user correct the proposal, and turn it into choices."""
    from mmp.core.errors import MmpError
    from mmp.scaffold import inspect, recipes

    frame = inspect.read_data(source, sql)
    columns = [str(c) for c in frame.columns]
    task_name = task.value if task else None
    if target is None and task_name != "clustering":
        if not prompt:
            raise MmpError("missing --target", "name the column to predict, or pass --task clustering")
        typer.echo(f"Columns: {', '.join(columns)}")
        target = ask("Target column (empty: clustering)", lambda a: _column_or_none(a, columns), "") or None
    profile = inspect.inspect_frame(frame, source, target, task_name, entity, timestamp)
    if prompt and task is None:
        picked = choose(f"Task (guessed: {profile.task}, {profile.task_reason})", _tasks(), profile.task)
        if picked != profile.task:
            profile = inspect.inspect_frame(frame, source, target, picked, entity, timestamp)
    if prompt and entity is None:
        answer = typer.prompt("Entity columns (comma-separated)", default=",".join(profile.entity_columns))
        chosen = [c.strip() for c in answer.split(",") if c.strip()]
        if chosen != profile.entity_columns:
            profile = inspect.inspect_frame(frame, source, target, profile.task, chosen, timestamp)
    estimator, name = _ask_estimator_and_name(
        profile.task, estimator, name, recipes.recipe_name_from(source), prompt
    )
    return recipes.choices_from_profile(profile, name, estimator)


def _choices_without_data(
    target: str | None,
    task: Task | None,
    entity: list[str] | None,
    timestamp: str | None,
    name: str | None,
    estimator: str | None,
    prompt: bool,
) -> RecipeChoices:
    """A recipe from flags and answers alone: column types are left for training to detect."""
    from mmp.core.errors import MmpError
    from mmp.scaffold import recipes

    task_name = task.value if task else None
    if task_name is None:
        if not prompt:
            raise MmpError("missing --task (or --from-data to guess it)", "e.g. --task regression --target y")
        task_name = choose("Task", _tasks(), "classification")
    if target is None and task_name != "clustering":
        if not prompt:
            raise MmpError(f"a {task_name} recipe needs --target", "name the column to predict")
        target = ask("Target column", _non_empty)
    estimator, name = _ask_estimator_and_name(task_name, estimator, name, f"{task_name}_model", prompt)
    return recipes.RecipeChoices(
        name=name,
        task=task_name,
        estimator=estimator,
        target=target,
        entity_columns=list(entity or []),
        timestamp_column=timestamp,
        notes=["No data was inspected: column types are detected at training time (pass --data-path)."],
    )


def _ask_estimator_and_name(
    task: str, estimator: str | None, name: str | None, suggested: str, prompt: bool
) -> tuple[str, str]:
    from mmp.scaffold import recipes

    if estimator is None:
        default = recipes.default_estimator(task)
        catalog = {key: entry.summary for key, entry in recipes.ESTIMATORS[task].items()}
        estimator = choose("Estimator", catalog, default) if prompt else default
    if name is None:
        name = ask("Recipe name", recipes.recipe_name_from, suggested) if prompt else suggested
    return estimator, recipes.recipe_name_from(name)


def _report_recipe(
    path: Path, choices: RecipeChoices, report: ValidationReport | None, json_output: bool
) -> None:
    from mmp.cli.console import print_json, print_table

    if json_output:
        print_json(
            {
                "path": str(path),
                "task": choices.task,
                "target": choices.target,
                "entity_columns": choices.entity_columns,
                "timestamp_column": choices.timestamp_column,
                "numeric_columns": choices.numeric_columns,
                "categorical_columns": choices.categorical_columns,
                "notes": choices.notes,
                "validated": report is not None,
            }
        )
        return
    rows = [(f"note {i}", note) for i, note in enumerate(choices.notes[1:], start=1)]
    rows += report.table_rows() if report else [("task", choices.task), ("target", choices.target or "-")]
    print_table(f"✓ Wrote {path}" + (" (passes mmp validate)" if report else ""), rows)
    typer.echo(f"Next: mmp train -r {path}" + ("" if report else " --data-path DATA"))


def _tasks() -> dict[str, str]:
    return {task.value: task.summary for task in Task}


def _column_or_none(answer: str, columns: list[str]) -> str:
    from mmp.core.errors import MmpError
    from mmp.core.suggest import did_you_mean

    answer = answer.strip()
    if answer and answer not in columns:
        raise MmpError(f"no column '{answer}'{did_you_mean(answer, columns)}")
    return answer


def _non_empty(answer: str) -> str:
    from mmp.core.errors import MmpError

    if not answer.strip():
        raise MmpError("an answer is needed")
    return answer.strip()


def _command(
    from_data: str | None,
    target: str | None,
    task: Task | None,
    entity: list[str] | None,
    timestamp: str | None,
    prompted: bool,
) -> str:
    parts = ["mmp", "get-recipe"]
    for flag, value in (("--from-data", from_data), ("--target", target), ("--task", task and task.value)):
        if value:
            parts += [flag, value]
    for column in entity or []:
        parts += ["--entity", column]
    if timestamp:
        parts += ["--timestamp", timestamp]
    return shlex.join(parts) + (" (and answers at its prompts)" if prompted else "")


def get_config(
    env: Environment | None = typer.Option(
        None, "--env", help="local (SQLite store here) or prod (tracking server from the environment)."
    ),
    experiment: str | None = typer.Option(
        None, "--experiment", help="MLflow experiment. Default: this folder."
    ),
    tracking_uri: str | None = typer.Option(
        None, "--tracking-uri", help="local only. Default: sqlite:///mlruns.db (prod: MLFLOW_TRACKING_URI)."
    ),
    registered_model_name: str | None = typer.Option(
        None, "--registered-model-name", help="Register every trained model under this name."
    ),
    output: Path | None = typer.Option(None, "--output", "-o", help="Default: configs/ENV.yaml."),
    force: bool = Force,
    no_input: bool = NoInput,
    json_output: bool = JsonOutput,
) -> None:
    """Write a config (where to run), the same templates mmp init uses, checked against the schema."""
    from mmp.cli.console import print_json, print_table
    from mmp.core.errors import MmpError
    from mmp.scaffold import configs
    from mmp.scaffold.recipes import write_new

    prompt = can_prompt(no_input)
    environment = (
        env.value if env else (choose("Environment", configs.ENVIRONMENTS, "local") if prompt else "local")
    )
    if tracking_uri is not None and environment == "prod":
        raise MmpError(
            "prod configs read the tracking URI from MLFLOW_TRACKING_URI",
            "drop --tracking-uri, or use --env local",
        )
    default_experiment = _folder_experiment()
    if experiment is None:
        experiment = (
            ask("Experiment", configs.check_experiment, default_experiment) if prompt else default_experiment
        )
    if tracking_uri is None:
        tracking_uri = configs.DEFAULT_TRACKING_URI
        if prompt and environment == "local":
            tracking_uri = ask("Tracking URI", configs.check_tracking_uri, configs.DEFAULT_TRACKING_URI)
    if registered_model_name is None and prompt:
        answer = ask(
            "Register every trained model as (empty: no)",
            lambda a: configs.check_model_name(a.strip()) if a.strip() else "",
            "",
        )
        registered_model_name = answer or None
    text = configs.render_config(environment, experiment, tracking_uri, registered_model_name)
    path = write_new(output or Path("configs") / f"{environment}.yaml", text, force)
    summary = {
        "path": str(path),
        "environment": environment,
        "experiment": experiment,
        "tracking_uri": tracking_uri if environment == "local" else "${MLFLOW_TRACKING_URI}",
        "registered_model_name": registered_model_name,
    }
    if json_output:
        print_json(summary)
        return
    print_table(
        f"✓ Wrote {path}", [(k, str(v) if v is not None else "-") for k, v in summary.items() if k != "path"]
    )


def _folder_experiment() -> str:
    """The current folder's name when it makes a valid experiment name, else `mmp`."""
    from mmp.core.errors import MmpError
    from mmp.scaffold.configs import check_experiment

    try:
        return check_experiment(Path.cwd().name)
    except MmpError:
        return "mmp"
