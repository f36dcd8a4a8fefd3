"""`mmp init`: ask for what is missing (on a terminal), call `mmp.scaffold.project.create_project`."""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

import typer

from mmp.cli.options import JsonOutput
from mmp.core.tasks import Task

T = TypeVar("T")


def stdin_is_tty() -> bool:
    """Prompts only make sense on a terminal; CI, pipes and scripts get defaults or an error."""
    return sys.stdin.isatty()


def can_prompt(no_input: bool) -> bool:
    return not no_input and stdin_is_tty()


def ask(label: str, parse: Callable[[str], T], default: str | None = None) -> T:
    """Prompt until `parse` accepts the answer; its MmpError is shown and the question asked again."""
    from mmp.core.errors import MmpError

    while True:
        answer = typer.prompt(label, default=default, show_default=default is not None)
        try:
            return parse(answer)
        except MmpError as exc:
            typer.secho(f"  {exc.message}" + (f" ({exc.hint})" if exc.hint else ""), fg="red", err=True)


def choose(label: str, options: dict[str, str], default: str) -> str:
    """A numbered menu: answer with the number or the name."""
    from mmp.core.errors import MmpError

    names = list(options)
    typer.echo(f"{label}:")
    for number, (name, summary) in enumerate(options.items(), start=1):
        typer.echo(f"  {number}. {name:<15} {summary}")

    def parse(answer: str) -> str:
        answer = answer.strip()
        if answer.isdigit() and 1 <= int(answer) <= len(names):
            return names[int(answer) - 1]
        if answer in options:
            return answer
        raise MmpError(f"'{answer}' is not one of the choices", f"answer 1-{len(names)} or a name")

    return ask(label, parse, default=str(names.index(default) + 1))


def init(
    name: str | None = typer.Argument(
        None, help="Project name: the folder, the pyproject name and (as snake_case) the package."
    ),
    task: Task | None = typer.Option(
        None, "--task", "-t", help="Example to start from. Default: classification (asked on a terminal)."
    ),
    directory: Path = typer.Option(
        Path("."), "--directory", help="Folder to create the project in (the project is DIRECTORY/NAME)."
    ),
    force: bool = typer.Option(
        False, "--force", help="Write into an existing, non-empty folder: generated files replace theirs."
    ),
    no_input: bool = typer.Option(False, "--no-input", help="Never prompt; missing options take defaults."),
    json_output: bool = JsonOutput,
) -> None:
    """Create a project that trains, serves, tests and builds a container image on the first try."""
    from mmp.core.errors import MmpError
    from mmp.scaffold.examples import EXAMPLES
    from mmp.scaffold.names import project_names
    from mmp.scaffold.project import create_project

    prompt = can_prompt(no_input)
    if name is None:
        if not prompt:
            raise MmpError("missing the project name", "mmp init NAME, e.g. mmp init sales-forecast")
        name = ask("Project name", lambda answer: project_names(answer).name)
    if task is None:
        summaries = {key: example.summary for key, example in EXAMPLES.items()}
        task = Task(choose("Task", summaries, "classification") if prompt else "classification")

    def building(source: Path) -> None:
        if not json_output:
            typer.echo(f"Building mmp's wheel from {source} for the project's wheels/ (once per change)...")

    created = create_project(name, task.value, directory, force=force, on_wheel_build=building)
    if json_output:
        from mmp.cli.console import print_json

        print_json(created.to_dict())
        return
    example, package = created.example, created.names.package
    typer.secho(f"✓ Created {created.path} ({len(created.files)} files, {task.value} example)", fg="green")
    if created.wheel:
        typer.echo(
            f"  {created.wheel}: mmp-toolkit is not on a package index, so `uv sync` and\n"
            "  `docker build` install it from wheels/ (see wheels/README.md)."
        )
    typer.echo(
        "\nNext:\n"
        f"  cd {created.path}\n"
        "  uv sync\n"
        f"  uv run mmp train -r {example.recipe_path} -c configs/local.yaml --register-as {package}\n"
        f"  uv run mmp serve-api --model-uri models:/{package}/latest -c configs/local.yaml\n"
        "  uv run pytest\n"
        "README.md has the Docker and docker compose commands."
    )
