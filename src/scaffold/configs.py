"""`mmp get-config` as a function: render the same config templates `mmp init` writes into projects.

A generated config is checked against the real `Config` model before it is written. `${VAR}`
expressions are kept as they are (prod reads the tracking server from the environment), and every
one of them sits in a text field, so the check needs no environment variable to be set.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

import yaml

from mmp.core.errors import MmpError
from mmp.scaffold.render import render_template

if TYPE_CHECKING:
    from mmp.recipe.config import Config

ENVIRONMENTS = {
    "local": "a SQLite MLflow store in the working directory (mlruns.db)",
    "prod": "tracking server and databases from environment variables; serving on 0.0.0.0",
}
DEFAULT_TRACKING_URI = "sqlite:///mlruns.db"
_EXPERIMENT = re.compile(r"^[A-Za-z0-9][A-Za-z0-9 ._/\-]{0,127}$")
_MODEL_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.\-]{0,127}$")
_URI = re.compile(r"^[A-Za-z][A-Za-z0-9+.\-]*:[^\s{}$]+$")


def _reads_as_text(value: str) -> bool:
    """YAML (and `${VAR:default}` substitution) must read the value back as this very string."""
    try:
        return yaml.safe_load(value) == value
    except yaml.YAMLError:
        return False


def check_experiment(name: str) -> str:
    if not _EXPERIMENT.match(name) or not _reads_as_text(name):
        raise MmpError(
            f"'{name}' is not a usable experiment name",
            "use letters, digits, spaces and . _ / -, not a number or yes/no (e.g. sales-forecast)",
        )
    return name


def check_model_name(name: str) -> str:
    if not _MODEL_NAME.match(name) or not _reads_as_text(name):
        raise MmpError(
            f"'{name}' is not a usable registered model name",
            "use letters, digits and . _ -, not a number or yes/no",
        )
    return name


def check_tracking_uri(uri: str) -> str:
    if not _URI.match(uri):
        raise MmpError(
            f"'{uri}' is not a tracking URI",
            "e.g. sqlite:///mlruns.db, postgresql://host/db or http://mlflow:5000",
        )
    return uri


def render_config(
    environment: str,
    experiment: str,
    tracking_uri: str = DEFAULT_TRACKING_URI,
    registered_model_name: str | None = None,
) -> str:
    """The config text for one environment, validated; prod ignores `tracking_uri` (environment)."""
    if environment not in ENVIRONMENTS:
        raise MmpError(f"unknown environment '{environment}'", f"choose one of {', '.join(ENVIRONMENTS)}")
    context = {
        "experiment": check_experiment(experiment),
        "tracking_uri": check_tracking_uri(tracking_uri),
        "registered_model_name": check_model_name(registered_model_name) if registered_model_name else None,
    }
    text = render_template(f"configs/{environment}.yaml.jinja", context)
    check_config(text, f"configs/{environment}.yaml")
    return text


def check_config(text: str, where: str) -> Config:
    """Validate config text with the real model, `${...}` expressions left unresolved."""
    from mmp.recipe.config import Config
    from mmp.recipe.loader import validate_data

    return validate_data(Config, yaml.safe_load(text), where, "change the options and run again")
