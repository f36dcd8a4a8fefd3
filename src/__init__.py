"""mmp: typed recipes, MLflow training, FastAPI serving and streaming batch inference for tabular models."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("mmp-toolkit")
except PackageNotFoundError:  # running from a checkout that was never installed
    __version__ = "0.0.0+unknown"
