"""Which MLflow store a command talks to: one rule, one value, passed explicitly.

The rule (documented in docs/training.md, "Which MLflow store"): the config's `mlflow.tracking_uri`
when the config sets one, else the `MLFLOW_TRACKING_URI` environment variable, else the local
default `sqlite:///mlruns.db`. Every command that reads or writes a model follows it, so a model
trained by `mmp train` is found by `batch-inference`, `export-model` and `serve-api` alike.

Library code never calls `mlflow.set_tracking_uri`: it builds a `TrackingStore` and asks it for an
`MlflowClient`. The one exception is `TrackingStore.fluent()`, a scope for the MLflow calls that
have no client form (`mlflow.sklearn.log_model` reads the process-wide URI); it restores the
previous state on exit and is used by training only.

    store = TrackingStore.resolve(configured=None)        # MLFLOW_TRACKING_URI or the default
    store = config.mlflow.store()                         # the same rule from a loaded config
    client = store.client()
"""

from __future__ import annotations

import contextlib
import os
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from mmp.core.errors import MmpError, first_line
from mmp.core.yamlio import redact_url

if TYPE_CHECKING:
    from mlflow import MlflowClient

DEFAULT_TRACKING_URI = "sqlite:///mlruns.db"
TRACKING_ENV = "MLFLOW_TRACKING_URI"
REGISTRY_ENV = "MLFLOW_REGISTRY_URI"
TRACKING_HINT = "check the tracking URI: mlflow.tracking_uri in --config-path, else MLFLOW_TRACKING_URI"

_FLUENT = threading.RLock()


@dataclass(frozen=True)
class TrackingStore:
    """An MLflow tracking store (and its registry), resolved once by the rule above."""

    tracking_uri: str
    registry_uri: str | None = None

    @classmethod
    def resolve(cls, configured: str | None, registry_uri: str | None = None) -> TrackingStore:
        """The store for a command: `configured` (the config's own value) if given, else the
        environment, else the local default."""
        uri = configured or os.environ.get(TRACKING_ENV) or DEFAULT_TRACKING_URI
        registry = registry_uri or os.environ.get(REGISTRY_ENV) or None
        return cls(tracking_uri=uri, registry_uri=registry)

    @property
    def display(self) -> str:
        """The tracking URI with any password hidden, for messages and results."""
        return redact_url(self.tracking_uri)

    def client(self) -> MlflowClient:
        """A client bound to this store; never the process-wide default."""
        from mlflow import MlflowClient

        from mmp.core.quiet import quiet_libraries

        quiet_libraries()
        return MlflowClient(tracking_uri=self.tracking_uri, registry_uri=self.registry_uri)

    def experiment_id(
        self, name: str, artifact_location: str | None = None, client: MlflowClient | None = None
    ) -> str:
        """The id of experiment `name`, created on first use (through `client`, one of this store's
        clients, when the caller has one already)."""
        try:
            client = client or self.client()
            found = client.get_experiment_by_name(name)
            if found is not None:
                return str(found.experiment_id)
            return str(client.create_experiment(name, artifact_location=artifact_location))
        except Exception as exc:  # noqa: BLE001 - every store raises its own types
            raise MmpError(
                f"cannot open the MLflow store {self.display}: {first_line(exc)}", TRACKING_HINT
            ) from None

    @contextlib.contextmanager
    def fluent(self) -> Iterator[None]:
        """Point MLflow's fluent API at this store for the duration of the block, then restore.

        Why this exists: `mlflow.sklearn.log_model` (and the `mlflow.start_run` it attaches to)
        have no client form and read the process-wide URI, and `mlflow.set_tracking_uri` also
        writes `MLFLOW_TRACKING_URI` into `os.environ`. This scope holds a process-wide lock, so
        two trainings never interleave, and puts back the global URIs and both environment
        variables exactly as they were, so nothing leaks to the rest of the process.
        """
        import mlflow
        from mlflow.tracking._model_registry import utils as registry_utils
        from mlflow.tracking._tracking_service import utils as tracking_utils

        with _FLUENT:
            saved_env = {name: os.environ.get(name) for name in (TRACKING_ENV, REGISTRY_ENV)}
            saved_tracking = tracking_utils._tracking_uri
            saved_registry = registry_utils._registry_uri
            mlflow.set_tracking_uri(self.tracking_uri)
            mlflow.set_registry_uri(self.registry_uri or self.tracking_uri)
            try:
                yield
            finally:
                mlflow.set_tracking_uri(saved_tracking)  # type: ignore[arg-type]  # None: unset (MLflow's own restore)
                registry_utils._registry_uri = saved_registry
                for name, value in saved_env.items():
                    if value is None:
                        os.environ.pop(name, None)
                    else:
                        os.environ[name] = value


@contextlib.contextmanager
def libyaml_model_reads() -> Iterator[None]:
    """Let MLflow read MLmodel files with libyaml's parser for the duration of the block.

    Why: `mlflow.sklearn.log_model` re-reads the MLmodel it just wrote three times (to check that
    the input example can be served), with PyYAML's pure-Python `yaml.safe_load`. mmp's MLmodel
    carries the feature contract and the reference profile (~2,000 lines), so those reads were the
    largest cost of `mmp train` beyond the fit (~0.3 s of CPU on breast cancer). `CSafeLoader` is
    the same safe loader (same constructor and resolver, so the same Python objects) with the
    parsing done in C. Writing is untouched, so the files MLflow writes are byte-for-byte the same.
    Without libyaml this does nothing. Training only: held under the fluent lock, restored on exit.
    """
    import yaml

    loader = getattr(yaml, "CSafeLoader", None)
    if loader is None:
        yield
        return
    original = yaml.safe_load

    def safe_load(stream: Any) -> Any:
        return yaml.load(stream, Loader=loader)  # CSafeLoader: the safe loader, in C

    with _FLUENT:
        yaml.safe_load = safe_load
        try:
            yield
        finally:
            yaml.safe_load = original
