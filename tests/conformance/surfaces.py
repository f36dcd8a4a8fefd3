"""Score the same records through every mmp surface and report one comparable outcome per record.

An outcome is `("ok", prediction, probabilities)` or `("refused", column, reason code)`. The test
modules compare each surface's outcomes with those of the in-process pipeline.
"""

from __future__ import annotations

import csv
import json
import math
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

Outcome = tuple[Any, ...]
MODEL_REFUSED: Outcome = ("refused", "(model)", "model_refused")
_CODE = re.compile(r"column '(?P<column>[^']+)': .*\[(?P<code>[a-z_]+)\]")
_REJECT = re.compile(r"\[(?P<code>[a-z_]+)\]")


def _plain(value: Any) -> Any:
    return value.item() if hasattr(value, "item") else value


def in_process(loaded: Any, records: list[dict[str, Any]]) -> list[Outcome]:
    """The logged pipeline itself (its first step converts or refuses), one record at a time."""
    import numpy as np

    out: list[Outcome] = []
    pipeline = loaded.pipeline
    classifier = loaded.contract.task == "classification"
    for record in records:
        frame = record_frame(record)
        try:
            with np.errstate(all="ignore"):  # as when called without warnings-as-errors
                value = _plain(pipeline.predict(frame)[0])
                proba = tuple(map(float, pipeline.predict_proba(frame)[0])) if classifier else None
        except ValueError as exc:  # a conformance refusal, or the model's own (e.g. float32 overflow)
            match = _CODE.search(str(exc))
            out.append(("refused", match["column"], match["code"]) if match else MODEL_REFUSED)
            continue
        out.append(("ok", value, proba))
    return out


def record_frame(record: dict[str, Any]) -> Any:
    """One record as a frame of object columns: values exactly as given (a lone surrogate too)."""
    import pandas as pd

    return pd.DataFrame({name: pd.Series([value], dtype=object) for name, value in record.items()})


def _proba(body: dict[str, Any], classes: list[Any] | None) -> tuple[float, ...] | None:
    if "probabilities" not in body or classes is None:
        return None
    return tuple(body["probabilities"][str(c)] for c in classes)


def _json_body(records: Any) -> bytes:
    # allow_nan: Python's JSON (which the server parses with) reads NaN/Infinity literals.
    return json.dumps(records, default=str).encode()


def predict_one(client: Any, records: list[dict[str, Any]], classes: list[Any] | None) -> list[Outcome]:
    out: list[Outcome] = []
    for record in records:
        response = client.post(
            "/predict", content=_json_body(record), headers={"content-type": "application/json"}
        )
        out.append(_http_outcome(response, classes, batch=False))
    return out


def predict_batch(client: Any, records: list[dict[str, Any]], classes: list[Any] | None) -> list[Outcome]:
    """One record per batch request (a refused record fails its whole batch)."""
    out: list[Outcome] = []
    for record in records:
        response = client.post(
            "/predict/batch",
            content=_json_body({"records": [record]}),
            headers={"content-type": "application/json"},
        )
        out.append(_http_outcome(response, classes, batch=True))
    return out


def predict_batch_together(
    client: Any, records: list[dict[str, Any]], classes: list[Any] | None
) -> list[Outcome]:
    """Accepted records in a single batch request: each must score as it does alone."""
    response = client.post(
        "/predict/batch",
        content=_json_body({"records": records}),
        headers={"content-type": "application/json"},
    )
    assert response.status_code == 200, response.text
    return [("ok", p["prediction"], _proba(p, classes)) for p in response.json()["predictions"]]


def _http_outcome(response: Any, classes: list[Any] | None, batch: bool) -> Outcome:
    assert response.status_code in (200, 422), response.text  # never a 5xx
    body = response.json()
    if response.status_code == 422:
        field = body["error"]["fields"][0]
        if field["type"] == "unscorable_input":
            return MODEL_REFUSED
        return ("refused", field["loc"][-1], field["type"])
    if batch:
        body = body["predictions"][0]
    return ("ok", body["prediction"], _proba(body, classes))


# --- files ---------------------------------------------------------------------------------------


def as_text(value: Any) -> str:
    """How a CSV writer spells a value (None is an empty field)."""
    if value is None:
        return ""
    if isinstance(value, float):
        return repr(value)
    return str(value)


def write_csv(path: Path, records: list[dict[str, Any]]) -> None:
    with path.open("w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh)
        writer.writerow(list(records[0]))
        for record in records:
            writer.writerow([as_text(v) for v in record.values()])


def batch_file(
    batch_run: Any,
    source: Path,
    records: list[dict[str, Any]],
    key: str,
    classes: list[Any] | None,
    **options: Any,
) -> list[Outcome]:
    """batch-inference over a file of `records` (`--on-error skip`), outcomes matched by the key column."""
    import pandas as pd

    output = source.with_name(source.stem + ".out.parquet")
    rejects = source.with_name(source.stem + ".rejects.csv")
    batch_run(source, output, on_error="skip", rejects_path=str(rejects), force=True, **options)
    scored = pd.read_parquet(output) if output.is_file() or output.is_dir() else pd.DataFrame()
    refused = pd.read_csv(rejects, dtype=str, keep_default_na=False) if rejects.is_file() else None
    by_key: dict[str, Outcome] = {}
    for row in scored.to_dict("records"):
        proba = None
        if classes is not None and f"probability_{classes[0]}" in row:
            proba = tuple(float(row[f"probability_{c}"]) for c in classes)
        by_key[str(row[key])] = ("ok", _plain(row["prediction"]), proba)
    if refused is not None:
        for row in refused.to_dict("records"):
            match = _REJECT.search(row["reason"])
            if row["column"] == "(model)":
                by_key[str(row[key])] = MODEL_REFUSED
                continue
            assert match, row
            by_key[str(row[key])] = ("refused", row["column"], match["code"])
    return [by_key[str(r[key])] for r in records]


def spark_file(batch_run: Any, source: Path, records: list[dict[str, Any]], key: str) -> list[Outcome]:
    """The Spark engine over a file of `records`: predictions and reject reasons, by key."""
    import pandas as pd

    output = source.with_name(source.stem + ".spark.parquet")
    rejects = source.with_name(source.stem + ".spark-rejects.parquet")
    batch_run(
        source,
        output,
        engine="spark",
        spark_master="local[1]",
        on_error="skip",
        rejects_path=str(rejects),
        force=True,
    )
    by_key: dict[str, Outcome] = {}
    for row in pd.read_parquet(output).to_dict("records"):
        by_key[str(row[key])] = ("ok", _plain(row["prediction"]), None)
    for row in pd.read_parquet(rejects).to_dict("records"):
        match = _REJECT.search(row["reason"])
        assert match, row
        by_key[str(row[key])] = ("refused", row["column"], match["code"])
    return [by_key[str(r[key])] for r in records]


# --- the logged model without mmp -------------------------------------------------------------------

_PYFUNC = r"""
import json, re, sys
sys.modules["mmp"] = None  # `import mmp` fails: the artifact must not need it
import pandas as pd
import mlflow.pyfunc
try:
    import mmp  # noqa
    raise SystemExit("mmp is importable")
except ImportError:
    pass


def score(model_path, records_path, whole_path):
    model = mlflow.pyfunc.load_model(model_path)  # loaded afresh for every job
    records = json.loads(open(records_path, encoding="utf-8").read())
    out = []
    for record in records:
        try:
            frame = pd.DataFrame({k: pd.Series([v], dtype=object) for k, v in record.items()})
            value = model.predict(frame)
            value = value.iloc[0, 0] if hasattr(value, "iloc") and value.ndim == 2 else value[0]
            out.append(["ok", value.item() if hasattr(value, "item") else value])
        except Exception as exc:
            match = re.search(r"column '([^']+)': .*\[([a-z_]+)\]", str(exc))
            if match:
                out.append(["refused", match.group(1), match.group(2)])
            elif isinstance(exc, ValueError):
                out.append(["refused", "(model)", "model_refused"])
            else:
                out.append(["error", type(exc).__name__ + ": " + str(exc)[:300]])
    frame = pd.read_parquet(whole_path) if whole_path else None
    whole = model.predict(frame).tolist() if frame is not None else None
    return {"records": out, "whole": whole}


for line in sys.stdin:  # one job a line: [model path, records file, whole-file Parquet or null]
    print("RESULT " + json.dumps(score(*json.loads(line))), flush=True)
"""


class PyfuncScorer:
    """`mlflow.pyfunc.load_model(...).predict` in an interpreter where `import mmp` fails.

    One interpreter serves every model of the session (starting one and importing MLflow, pandas
    and scikit-learn takes seconds); each job loads its model afresh.
    """

    def __init__(self, folder: Path) -> None:
        self._stderr = (folder / "pyfunc-stderr.log").open("w+", encoding="utf-8")
        self._process = subprocess.Popen(
            [sys.executable, "-c", _PYFUNC],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=self._stderr,
            text=True,
        )
        self._jobs = 0

    def __call__(
        self, model_path: Path, records: list[dict[str, Any]], folder: Path, whole: Path | None = None
    ) -> tuple[list[Outcome], list[Any] | None]:
        """Outcomes of `records` one at a time, and the predictions for the `whole` Parquet file."""
        self._jobs += 1
        data = folder / f"pyfunc-records-{self._jobs}.json"
        data.write_text(json.dumps(records), encoding="utf-8")
        assert self._process.stdin is not None and self._process.stdout is not None
        self._process.stdin.write(
            json.dumps([str(model_path), str(data), str(whole) if whole else None]) + "\n"
        )
        self._process.stdin.flush()
        for line in self._process.stdout:
            if line.startswith("RESULT "):
                result = json.loads(line.removeprefix("RESULT "))
                break
        else:
            self._stderr.seek(0)
            raise AssertionError(f"the pyfunc interpreter exited:\n{self._stderr.read()[-3000:]}")
        outcomes: list[Outcome] = []
        for item in result["records"]:
            assert item[0] != "error", item
            outcomes.append(("ok", item[1], None) if item[0] == "ok" else tuple(item))
        return outcomes, result["whole"]

    def close(self) -> None:
        """Stopped by its PID (it holds no state worth a graceful interpreter shutdown)."""
        self._process.kill()
        self._process.wait(timeout=30)
        if self._process.stdin is not None:
            self._process.stdin.close()
        if self._process.stdout is not None:
            self._process.stdout.close()
        self._stderr.close()


def same(expected: list[Outcome], got: list[Outcome], records: list[dict[str, Any]], surface: str) -> None:
    """Identical verdicts; identical predictions (probabilities to 1e-12) for accepted records."""
    problems = []
    for record, want, have in zip(records, expected, got, strict=True):
        if want[0] != have[0] or (want[0] == "refused" and want[1:] != have[1:]):
            problems.append(f"{record}: expected {want}, {surface} gave {have}")
            continue
        if want[0] == "ok":
            if want[1] != have[1] and not (
                isinstance(want[1], float) and math.isclose(want[1], have[1], rel_tol=1e-12)
            ):
                problems.append(f"{record}: prediction {want[1]!r} in process, {have[1]!r} via {surface}")
            if (
                want[2] is not None
                and have[2] is not None
                and any(
                    not math.isclose(a, b, rel_tol=1e-12, abs_tol=1e-15)
                    for a, b in zip(want[2], have[2], strict=True)
                )
            ):
                problems.append(f"{record}: probabilities {want[2]} in process, {have[2]} via {surface}")
    assert not problems, f"{len(problems)} records differ on {surface}:\n" + "\n".join(problems[:20])
