"""The config: where to run. Everything has a local default, so `--config-path` is optional."""

from __future__ import annotations

import os
from typing import Literal

from pydantic import Field, field_validator

from mmp.core.errors import MmpError
from mmp.core.latency import DEFAULT_LATENCY_BUCKETS_S, check_buckets
from mmp.core.tracking import DEFAULT_TRACKING_URI, TrackingStore
from mmp.recipe.base import StrictModel


class MlflowSettings(StrictModel):
    """The MLflow tracking store, experiment and registry."""

    tracking_uri: str = Field(
        default=DEFAULT_TRACKING_URI,
        description="MLflow tracking URI. When the config does not set it: MLFLOW_TRACKING_URI, else a "
        "SQLite store in the working directory (MLflow 3 refuses the old ./mlruns file store).",
    )
    experiment: str = Field(default="mmp", description="Experiment name; created on first use.")
    registry_uri: str | None = Field(default=None, description="Registry URI if not the tracking URI.")
    registered_model_name: str | None = Field(
        default=None,
        description="Register every trained model under this name (like --register-as).",
    )
    artifact_location: str | None = Field(
        default=None, description="Artifact root for a newly created experiment."
    )

    def store(self) -> TrackingStore:
        """The MLflow store every command uses: this `tracking_uri` if the config sets one, else
        MLFLOW_TRACKING_URI, else the local default (see `mmp.core.tracking`)."""
        configured = self.tracking_uri if "tracking_uri" in self.model_fields_set else None
        return TrackingStore.resolve(configured, self.registry_uri)


class SqlSettings(StrictModel):
    """A SQL database reached through SQLAlchemy. The URI comes from the environment, never the file."""

    uri_env: str = Field(
        default="MMP_DATABASE_URL",
        description="Name of the environment variable that holds the SQLAlchemy URI.",
    )
    chunk_rows: int = Field(default=100_000, gt=0, description="Rows fetched per round trip.")

    @field_validator("uri_env")
    @classmethod
    def _looks_like_a_name(cls, value: str) -> str:
        if "://" in value:
            raise ValueError(
                "uri_env names an environment variable, not the URI itself "
                "(put the URI in that variable so it never lands in a file)"
            )
        return value

    def uri(self) -> str:
        """The database URI from the environment, or a one-line error saying which variable to set."""
        value = os.environ.get(self.uri_env)
        if not value:
            raise MmpError(
                f"the SQL connection needs the environment variable {self.uri_env}",
                f"export {self.uri_env}=postgresql+psycopg://user:password@host/db (any SQLAlchemy URI)",
            )
        return value


class PredictionLogSettings(StrictModel):
    """The server's prediction log (`mmp monitor` reads it): off by default."""

    enabled: bool = Field(default=False, description="Log every scored record (or a sample).")
    kind: Literal["parquet", "sql"] = Field(
        default="parquet", description="Parquet files under `path`, or rows of a SQL table."
    )
    path: str = Field(
        default="logs/predictions",
        description="Log folder for kind=parquet: local, or a URI pyarrow/fsspec knows (s3://...). "
        "Partitioned by date and model version; each worker writes its own files.",
    )
    labels_path: str | None = Field(
        default=None,
        description="Where `POST /labels` appends labels (Parquet). Default: a `labels` folder beside "
        "`path` (kind=parquet), or the table `labels_table` (kind=sql).",
    )
    table: str = Field(default="prediction_logs", description="Table for kind=sql (table or schema.table).")
    labels_table: str = Field(default="prediction_labels", description="Labels table for kind=sql.")
    uri_env: str = Field(
        default="MMP_DATABASE_URL",
        description="Environment variable holding the SQLAlchemy URI for kind=sql.",
    )
    sample_rate: float = Field(default=1.0, gt=0, le=1, description="Share of requests logged.")
    flush_interval_s: float = Field(
        default=5.0,
        gt=0,
        description="Longest time a record waits in memory: after kill -9, at most this much is lost.",
    )
    flush_rows: int = Field(default=10_000, gt=0, description="Flush early once this many records wait.")
    queue_records: int = Field(
        default=100_000,
        gt=0,
        description="Most records waiting to be written; beyond, records are dropped and counted in "
        "/metrics (mmp_prediction_log_dropped_total), never delaying a request.",
    )

    @field_validator("uri_env")
    @classmethod
    def _a_variable(cls, value: str) -> str:
        if "://" in value:
            raise ValueError("uri_env names an environment variable, not the URI itself")
        return value

    def labels_location(self) -> str:
        """The labels log folder: `labels_path`, else `labels` beside the prediction log folder."""
        if self.labels_path:
            return self.labels_path
        base = self.path.rstrip("/")
        parent = base.rsplit("/", 1)[0] if "/" in base else "."
        return f"{parent}/labels"


class ServingSettings(StrictModel):
    """Defaults for `mmp serve-api`; command-line options override them."""

    host: str = Field(default="127.0.0.1", description="Interface to bind (0.0.0.0 in containers).")
    port: int = Field(default=8000, ge=1, le=65535)
    workers: int = Field(default=1, ge=1, description="Worker processes; each loads the model.")
    api_keys_env: str | None = Field(
        default=None,
        description="Environment variable holding comma-separated API keys (default MMP_API_KEYS). "
        "Without keys the API is open.",
    )
    docs_public: bool = Field(
        default=True,
        description="With API keys set, still serve /docs and /openapi.json without a key (they show "
        "the request schema, never data). /health and /ready are always open.",
    )
    max_batch_records: int = Field(default=1000, gt=0, description="Largest /predict/batch request.")
    max_body_bytes: int = Field(default=10_000_000, gt=0, description="Largest request body (413).")
    request_timeout_s: float = Field(default=10.0, gt=0, description="Per-request timeout (504).")
    reload_interval_s: float = Field(
        default=30.0, ge=0, description="Poll interval for a registry alias; 0 disables hot reload."
    )
    micro_batching: bool = Field(default=True, description="Group concurrent requests into one call.")
    micro_batch_max_size: int = Field(default=32, gt=0, description="Most records in one grouped call.")
    micro_batch_max_wait_ms: float = Field(
        default=2.0,
        ge=0,
        description="Longest wait for more records before a grouped call, only while requests keep "
        "arriving (a lone request never waits).",
    )
    latency_buckets_s: list[float] = Field(
        default_factory=lambda: list(DEFAULT_LATENCY_BUCKETS_S),
        min_length=1,
        description="Edges of the request-latency histogram in /metrics, seconds, increasing. Put "
        "your latency targets on edges (the defaults include 0.1 and 0.2) so SLO ratios are exact.",
    )
    prediction_log: PredictionLogSettings = Field(
        default_factory=PredictionLogSettings,
        description="Log scored records for `mmp monitor` (off by default); see docs/monitoring.md.",
    )

    @field_validator("latency_buckets_s")
    @classmethod
    def _increasing_buckets(cls, value: list[float]) -> list[float]:
        return list(check_buckets(value))


class OutputSettings(StrictModel):
    """Where `mmp batch-inference` writes when `--output-path` is not given."""

    kind: Literal["file", "sql"] = Field(default="file", description="A file, or a SQL table.")
    path: str | None = Field(
        default=None, description="Output file for kind=file (.parquet, .csv, .tsv or .jsonl)."
    )
    table: str | None = Field(default=None, description="Table name for kind=sql (table or schema.table).")
    uri_env: str | None = Field(
        default=None,
        description="Environment variable with the SQLAlchemy URI of the output database "
        "(default: sql.uri_env, the input connection).",
    )
    if_exists: Literal["replace", "append", "fail"] = Field(
        default="fail",
        description="When the table exists: fail (unless --force, which replaces it), replace, or "
        "append. Always atomic: rows are staged and swapped in with one transaction.",
    )

    @field_validator("uri_env")
    @classmethod
    def _names_a_variable(cls, value: str | None) -> str | None:
        if value is not None and "://" in value:
            raise ValueError(
                "uri_env names an environment variable, not the URI itself "
                "(put the URI in that variable so it never lands in a file)"
            )
        return value


class BatchSettings(StrictModel):
    """Defaults for `mmp batch-inference`; command-line options override them."""

    chunk_rows: int = Field(default=100_000, gt=0, description="Rows scored per chunk.")
    workers: int = Field(default=1, ge=1, description="Scoring processes (for CPU-bound models).")
    output: OutputSettings = Field(default_factory=OutputSettings)


class Config(StrictModel):
    """Where to run: tracking store, data connections, serving and batch defaults."""

    environment: str = Field(default="local", description="A name for this environment.")
    mlflow: MlflowSettings = Field(default_factory=MlflowSettings, description="Tracking and registry.")
    sql: SqlSettings = Field(default_factory=SqlSettings, description="SQL connection for .sql sources.")
    serving: ServingSettings = Field(default_factory=ServingSettings, description="mmp serve-api defaults.")
    batch: BatchSettings = Field(default_factory=BatchSettings, description="mmp batch-inference defaults.")
