"""mmp: typed recipes, MLflow training, FastAPI serving and streaming batch inference for tabular models."""

from __future__ import annotations

from typing import Any


def __getattr__(name: str) -> Any:
    # Resolved on first use: reading package metadata costs ~20 ms, which `mmp --help` need not pay.
    if name == "__version__":
        from importlib.metadata import PackageNotFoundError, version

        try:
            return version("mmp-toolkit")
        except PackageNotFoundError:  # running from a checkout that was never installed
            return "0.0.0+unknown"
    raise AttributeError(f"module 'mmp' has no attribute {name!r}")
