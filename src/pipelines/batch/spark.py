"""`--engine spark`: the same job on Spark, for inputs one machine cannot score in time.

Spark reads the Parquet or CSV input, the same contract checks run as Spark SQL casts, MLflow's
`pyfunc.spark_udf` (env_manager="local": executors use this Python and its packages) scores the
rows, and Spark writes a Parquet folder that is renamed into place only when the job succeeds.

Differences from the streaming engine, all refused with a clear message rather than half-done:
Parquet/CSV input only, Parquet output only (a folder of part files), no `--probabilities` (the
UDF returns `predict()` only), and rejects are identified by their entity values, not row numbers.
"""

from __future__ import annotations

import time
import warnings
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mmp.core.errors import MmpError, import_optional
from mmp.core.spark import spark_session
from mmp.core.staged import StagedFolder
from mmp.core.yamlio import redact_url
from mmp.pipelines.batch.job import BatchResult, load_scorer
from mmp.pipelines.batch.locations import FileInput, FileOutput
from mmp.pipelines.batch.scorer import IDENTITY_COLUMNS, PREDICTION

if TYPE_CHECKING:
    from mmp.core.contract import ColumnContract
    from mmp.core.progress import Progress
    from mmp.pipelines.batch.job import Plan
    from mmp.recipe.config import Config

REASON = "_mmp_reason"


def check_supported(the_plan: Plan) -> None:
    """Refuse what the Spark path does not do, before starting a JVM."""
    job = the_plan.job
    source = the_plan.source
    if not isinstance(source, FileInput) or source.format not in ("parquet", "csv", "tsv"):
        raise MmpError(
            "--engine spark reads Parquet or CSV files", "use the local engine for JSON Lines and SQL"
        )
    if not isinstance(the_plan.output, FileOutput) or the_plan.output.format != "parquet":
        raise MmpError(
            "--engine spark writes Parquet", "name a .parquet output (Spark writes it as a folder of parts)"
        )
    if job.probabilities:
        raise MmpError(
            "--probabilities is not available with --engine spark "
            "(MLflow's spark_udf returns predict() only)",
            "use the local engine with --workers for class probabilities",
        )


def run_spark(the_plan: Plan, config: Config, progress: Progress) -> BatchResult:
    check_supported(the_plan)
    import_optional("pyspark", "spark")  # before the model download, not after
    with warnings.catch_warnings():
        # pyspark 4.x warns on every pandas UDF that it does not fully support pandas 3; the UDF
        # here passes plain numeric/string/datetime columns, which it handles.
        warnings.filterwarnings(
            "ignore", message="PySpark does not yet fully support", category=FutureWarning
        )
        return _run(the_plan, config, progress)


def _run(the_plan: Plan, config: Config, progress: Progress) -> BatchResult:
    started = time.perf_counter()
    scorer, model_path = load_scorer(the_plan, config, progress)
    with progress.step(f"Starting Spark ({the_plan.job.spark_master})"):
        spark, owned = spark_session(the_plan.job.spark_master, "mmp-batch-inference")
    assert isinstance(the_plan.source, FileInput) and isinstance(the_plan.output, FileOutput)
    target = the_plan.output.path
    staging = StagedFolder(target, create=False)  # Spark creates the folder itself
    rejects_staging: StagedFolder | None = None
    try:
        scoring_started = time.perf_counter()
        with progress.step(f"Scoring {the_plan.source.description} with Spark"):
            frame = _read(spark, the_plan.source, scorer.input_columns)
            checked, reason = _checked(frame, scorer.specs)
            bad = checked.filter(reason.isNotNull())
            rejected = bad.count()
            if rejected and the_plan.job.on_error == "fail":
                first = bad.select(*scorer.key_columns, reason.alias("reason")).first()
                keys = ", ".join(f"{k}={first[k]!r}" for k in scorer.key_columns)
                raise MmpError(
                    f"cannot score the row with {keys}: {first['reason']} ({rejected} such rows)",
                    "fix the data, or pass --on-error skip to write such rows to a rejects folder",
                )
            if the_plan.rejects is not None:  # written even when empty, so a stale one never misleads
                rejects_staging = StagedFolder(the_plan.rejects.path, create=False)
                rows = bad if rejected else bad.limit(0)
                _write_rejects(rows, reason, scorer.input_columns, the_plan.rejects, rejects_staging.path)
            good = checked.filter(reason.isNull())
            scored = _score(spark, good, scorer, model_path)
            scored.write.mode("error").parquet(str(staging.path))
        rows_scored = _parquet_rows(staging.path)
        if rejects_staging is not None:
            rejects_staging.commit()
        staging.commit()
        scoring_s = time.perf_counter() - scoring_started
    except BaseException:
        for folder in (staging, rejects_staging):
            if folder is not None:
                folder.abort()
        raise
    finally:
        if owned:
            spark.stop()
    return BatchResult(
        model=scorer.identity.to_dict(),
        input=redact_url(the_plan.source.description),
        output=str(target),
        rejects=str(the_plan.rejects.path) if the_plan.rejects else None,
        rows_read=rows_scored + rejected,
        rows_scored=rows_scored,
        rows_rejected=rejected,
        duration_s=round(time.perf_counter() - started, 3),
        scoring_s=round(scoring_s, 3),
        engine="spark",
        workers=0,
        chunk_rows=0,
        on_error=the_plan.job.on_error,
        probabilities=False,
        columns=scorer.output_schema().names,
    )


def _read(spark: Any, source: FileInput, wanted: list[str]) -> Any:
    from mmp.pipelines.batch.checks import require_columns

    paths = [str(f) for f in source.files]
    if source.format == "parquet":
        frame = spark.read.parquet(*paths)
    else:
        frame = (
            spark.read.option("header", True)
            .option("multiLine", True)
            .option("escape", '"')
            .option("sep", "\t" if source.format == "tsv" else ",")
            .option("inferSchema", False)
            .option("encoding", "UTF-8")
            .csv(paths)
        )
    require_columns(wanted, frame.columns, source.description)
    return frame.select(*wanted)


def _spark_type(spec: ColumnContract) -> Any:
    from pyspark.sql import types as T

    return {
        "integer": T.LongType(),
        "number": T.DoubleType(),
        "boolean": T.BooleanType(),
        "datetime": T.TimestampNTZType(),
        "string": T.StringType(),
    }[spec.dtype]


def _checked(frame: Any, specs: list[ColumnContract]) -> tuple[Any, Any]:
    """Columns converted by `mmp.core.conformance` (the rules every surface shares) in a pandas UDF
    over each partition, and a `reason` column (null for rows that can be scored)."""
    from pyspark.sql import functions as F
    from pyspark.sql import types as T

    rules = [spec.rule() for spec in specs]
    schema = T.StructType(
        [T.StructField(spec.name, _spark_type(spec)) for spec in specs]
        + [T.StructField(REASON, T.StringType())]
    )

    def convert(batches: Any) -> Any:
        from mmp.core.conformance import conform_frame

        for batch in batches:
            conformed = conform_frame(rules, batch)
            out = conformed.frame.reset_index(drop=True)
            for rule in rules:  # Spark holds zone-less timestamps (the session time zone is UTC)
                if rule.kind == "datetime" and rule.tz:
                    out[rule.name] = out[rule.name].dt.tz_convert("UTC").dt.tz_localize(None)
            reasons: list[str | None] = [None] * len(out)
            for row, refusals in conformed.refused.items():
                reasons[row] = "; ".join(f"{col}: {r.message} [{r.code}]" for col, r in refusals)
            out[REASON] = reasons
            yield out

    return frame.mapInPandas(convert, schema), F.col(REASON)


def _score(spark: Any, good: Any, scorer: Any, model_path: Path) -> Any:
    import mlflow
    from pyspark.sql import functions as F

    schema = scorer.output_schema()
    prediction_type = schema.field(PREDICTION).type
    result_type = (
        "string" if str(prediction_type) == "string" else str(prediction_type).replace("int64", "long")
    )
    udf = mlflow.pyfunc.spark_udf(
        spark, model_uri=str(model_path), env_manager="local", result_type=result_type
    )
    inputs = F.struct(*[F.col(c) for c in scorer.contract.model_input_columns])
    identity = scorer.identity
    constants = dict(
        zip(
            IDENTITY_COLUMNS,
            (
                F.lit(identity.name).cast("string"),
                F.lit(identity.version).cast("string"),
                F.lit(identity.run_id).cast("string"),
                F.lit(scorer.scored_at).cast("timestamp"),
            ),
            strict=True,
        )
    )
    return good.select(
        *scorer.key_columns,
        udf(inputs).alias(PREDICTION),
        *(value.alias(name) for name, value in constants.items()),
    )


def _write_rejects(bad: Any, reason: Any, columns: list[str], target: FileOutput, staging: Path) -> None:
    from pyspark.sql import functions as F

    rows = bad.select(
        F.regexp_extract(reason, r"^([^:]+):", 1).alias("column"),
        reason.alias("reason"),
        *(F.col(c).cast("string").alias(c) for c in columns),
    )
    if target.format == "parquet":
        rows.write.mode("error").parquet(str(staging))
    elif target.format == "jsonl":
        rows.write.mode("error").json(str(staging))
    else:
        sep = "\t" if target.format == "tsv" else ","
        rows.write.mode("error").option("header", True).option("sep", sep).csv(str(staging))


def _parquet_rows(folder: Path) -> int:
    import pyarrow.parquet as pq

    return sum(pq.ParquetFile(part).metadata.num_rows for part in sorted(folder.glob("part-*.parquet")))
