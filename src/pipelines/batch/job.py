"""A batch job and its plan: the types every engine shares, and the checks made before any work.

`BatchJob` is what the user asked for, `Plan` the same with every default resolved and every
location parsed, `BatchResult` what an engine reports. An engine is a function
`(Plan, Config, Progress) -> BatchResult`; `local` and `spark` are the two, siblings that import
this module and never each other.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, Protocol

from mmp.core.errors import MmpError
from mmp.core.heap import freeze_long_lived
from mmp.core.progress import Progress
from mmp.pipelines.batch import sql_writer, writers
from mmp.pipelines.batch.locations import (
    FileOutput,
    InputSpec,
    OutputSpec,
    parse_input,
    parse_output,
    rejects_output,
)
from mmp.pipelines.batch.scorer import ChunkScorer, OnError

if TYPE_CHECKING:
    from mmp.recipe.config import Config

EngineName = Literal["local", "spark"]
SKIP_HINT = "fix the data, or pass --on-error skip to write such rows to a rejects file"


@dataclass(frozen=True)
class BatchJob:
    """What to score, with what, and where to; `None` means the config's default."""

    model_uri: str
    data_path: str
    output_path: str | None = None
    chunk_rows: int | None = None
    workers: int | None = None
    probabilities: bool = False
    on_error: OnError = "fail"
    rejects_path: str | None = None
    log_run: bool = False
    engine: EngineName = "local"
    spark_master: str = "local[*]"
    force: bool = False


@dataclass
class BatchResult:
    """What a job did; `--json` prints exactly this."""

    model: dict[str, Any]
    input: str
    output: str
    rejects: str | None
    rows_read: int
    rows_scored: int
    rows_rejected: int
    duration_s: float
    scoring_s: float
    engine: str
    workers: int
    chunk_rows: int
    on_error: str
    probabilities: bool
    lineage_run_id: str | None = None
    columns: list[str] = field(default_factory=list)

    @property
    def rows_per_s(self) -> float:
        """Throughput of the scoring itself (reading, checking, predicting, writing), not model loading."""
        return round(self.rows_read / self.scoring_s, 1) if self.scoring_s > 0 else 0.0

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "rows_per_s": self.rows_per_s}


@dataclass(frozen=True)
class Plan:
    """The job with every default resolved and every location parsed."""

    job: BatchJob
    source: InputSpec
    output: OutputSpec
    rejects: FileOutput | None
    chunk_rows: int
    workers: int


class Engine(Protocol):
    """How a planned job is executed: `mmp.pipelines.batch.local.run_local` or `spark.run_spark`."""

    def __call__(self, the_plan: Plan, config: Config, progress: Progress) -> BatchResult: ...


def plan(job: BatchJob, config: Config) -> Plan:
    """Parse and check locations and options before anything expensive happens."""
    chunk_rows = job.chunk_rows or config.batch.chunk_rows
    workers = job.workers or config.batch.workers
    if chunk_rows < 1 or workers < 1:
        raise MmpError("--chunk-rows and --workers must be at least 1")
    source = parse_input(job.data_path, config)
    output = parse_output(job.output_path, config)
    rejects = rejects_output(job.rejects_path, output) if job.on_error == "skip" else None
    if isinstance(output, FileOutput):
        writers.refuse_to_overwrite(output, job.force)
    else:
        sql_writer.refuse_to_overwrite(output, job.force)
    if rejects is not None:
        if isinstance(output, FileOutput) and rejects.path.resolve() == output.path.resolve():
            raise MmpError("--rejects-path is the output file", "write rejects to another file")
        writers.refuse_to_overwrite(rejects, job.force, what="rejects file")
    return Plan(job, source, output, rejects, chunk_rows, workers)


def load_scorer(the_plan: Plan, config: Config, progress: Progress) -> tuple[ChunkScorer, Path]:
    """The scorer for the job's model, and the local folder the model was loaded from."""
    from mmp.core.model_store import load_model

    job = the_plan.job
    with progress.step("Loading model"):
        loaded = load_model(job.model_uri, config.mlflow.store())
    scorer = ChunkScorer(
        pipeline=loaded.pipeline,
        contract=loaded.contract,
        identity=loaded.identity,
        scored_at=datetime.now(UTC),
        probabilities=job.probabilities,
        on_error=job.on_error,
    )
    freeze_long_lived(collect=False)  # the model and libraries stay for the whole job
    return scorer, loaded.path
