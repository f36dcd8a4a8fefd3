"""The one way mmp starts Spark: every engine (batch inference, monitoring) shares these settings."""

from __future__ import annotations

import os
import sys
from typing import Any

from mmp.core.errors import MmpError, first_line, import_optional


def spark_session(master: str, app_name: str = "mmp") -> tuple[Any, bool]:
    """A Spark session whose executors run this very Python, so a local run works out of the box.

    Returns the session and whether this call created it (a caller's own session is left running).
    """
    import_optional("pyspark", "spark")
    from pyspark.sql import SparkSession

    active = SparkSession.getActiveSession()
    if active is not None:
        return active, False
    builder = SparkSession.builder.master(master)
    os.environ.setdefault("PYSPARK_DRIVER_PYTHON", sys.executable)
    if master.startswith("local"):
        # Local executors are subprocesses of this machine: make them run this interpreter (and
        # so see mmp's packages) unless the user chose one. A cluster's nodes have their own.
        os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
        builder = builder.config("spark.pyspark.python", os.environ["PYSPARK_PYTHON"])
    try:
        return (
            builder.appName(app_name)
            .config("spark.ui.enabled", "false")
            .config("spark.ui.showConsoleProgress", "false")
            .config("spark.log.level", "ERROR")
            .config("spark.sql.parquet.outputTimestampType", "TIMESTAMP_MICROS")
            .config("spark.sql.session.timeZone", "UTC")
            .config("spark.sql.execution.arrow.pyspark.enabled", "true")
            .getOrCreate()
        ), True
    except Exception as exc:  # noqa: BLE001 - a missing JVM surfaces as several exception types
        first = first_line(exc)
        hint = "install Java 17+ and set JAVA_HOME" if "java" in first.lower() else "check --spark-master"
        raise MmpError(f"Spark could not start: {first}", hint) from None
