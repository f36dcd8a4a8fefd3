"""The `mmp` command: a Typer app whose commands are thin adapters over `mmp.pipelines`/`mmp.serving`.

No heavy library is imported here or in any command module at import time: `mmp --help` must be
instant. The one error handler lives in `run()`.
"""

from __future__ import annotations

import os
import sys

import typer

from mmp.cli import batch as batch_cmd
from mmp.cli import export as export_cmd
from mmp.cli import generate as generate_cmd
from mmp.cli import init as init_cmd
from mmp.cli import lifecycle as lifecycle_cmd
from mmp.cli import monitor as monitor_cmd
from mmp.cli import serve as serve_cmd
from mmp.cli import status as status_cmd
from mmp.cli import train as train_cmd
from mmp.cli import validate as validate_cmd

app = typer.Typer(
    name="mmp",
    help="From an empty folder to a served, monitored tabular ML model.\n\n"
    "Recipes say what to train, configs say where to run. Start with "
    "`mmp train --recipe-path recipes/breast_cancer.yaml`.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    # Plain Click help: it wraps to any width (80 columns, a pipe) without cutting option names,
    # shows boolean flags as flags, and keeps the generated docs/cli-reference.md plain Markdown.
    rich_markup_mode=None,
    context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100},
)

_state = {"debug": bool(os.environ.get("MMP_DEBUG"))}


def _version(value: bool) -> None:
    if value:
        from mmp import __version__

        typer.echo(f"mmp {__version__}")
        raise typer.Exit()


@app.callback()
def main(
    debug: bool = typer.Option(
        False,
        "--debug",
        help="Show full tracebacks instead of one-line errors (or set MMP_DEBUG=1).",
    ),
    version: bool = typer.Option(
        False, "--version", callback=_version, is_eager=True, help="Print the version and exit."
    ),
) -> None:
    """Global options."""
    if debug:
        _state["debug"] = True


app.command("train")(train_cmd.train)
app.command("validate")(validate_cmd.validate)
app.command("serve-api")(serve_cmd.serve_api)
app.command("batch-inference")(batch_cmd.batch_inference)
app.command("init")(init_cmd.init)
app.command("export-model")(export_cmd.export_model)
app.command("get-recipe")(generate_cmd.get_recipe)
app.command("get-config")(generate_cmd.get_config)
app.command("evaluate")(lifecycle_cmd.evaluate)
app.command("promote")(lifecycle_cmd.promote)
app.command("rollback")(lifecycle_cmd.rollback)
app.command("history")(lifecycle_cmd.history)
app.command("retrain")(lifecycle_cmd.retrain)
app.command("monitor")(monitor_cmd.monitor)
app.command("status")(status_cmd.status)


def run(argv: list[str] | None = None) -> None:
    """Entry point: one handler turns user errors into one red line with the fix (exit 1).

    Typer itself prints usage errors (exit 2) and turns Ctrl-C into exit 130; anything that is not
    an `MmpError` is a bug and keeps its traceback.
    """
    from mmp.core.errors import MmpError

    try:
        app(args=argv)
    except MmpError as exc:
        if _state["debug"]:
            raise
        from mmp.cli.console import print_error

        print_error(exc.message, exc.hint)
        sys.exit(1)
    except KeyboardInterrupt:
        sys.stderr.write("Interrupted.\n")
        sys.exit(130)


if __name__ == "__main__":  # pragma: no cover
    run()
