"""Keep third-party chatter off the user's console."""

from __future__ import annotations

import logging
import os

NOISY_LOGGERS = ("mlflow", "alembic", "urllib3", "git", "skops")


def quiet_libraries() -> None:
    """Silence MLflow's and alembic's INFO/WARNING lines (migrations, the pickle-format caution
    mmp chose knowingly, pip-version probes); real errors still show."""
    os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
    for name in NOISY_LOGGERS:
        logging.getLogger(name).setLevel(logging.ERROR)
