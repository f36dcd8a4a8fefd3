"""Where `mmp train` spends its time beyond fitting: the share outside `fit`, and the seconds beyond a
plain script that does the same fit plus one `mlflow.sklearn.log_model`.

Both sides run as fresh processes (imports included) on the breast-cancer example, alternating,
RUNS times, against SQLite stores created before timing starts (so neither pays the one-off schema
migration). The plain script builds the recipe's pipeline by hand (imputer + scaler + the same
random forest), logs one metric and the model with a signature, an input example and pinned
requirements, and prints its own fit and log_model seconds. Printed: medians, the share of
`mmp train` outside `fit`, `mmp - plain` (target: <= 1 s beyond fit + one log_model), and the
per-round difference (median and range).

mmp's own sources are byte-compiled before timing (an editable install is not, and this machine
sets PYTHONDONTWRITEBYTECODE); byte-compile the environment too (`UV_COMPILE_BYTECODE=1 uv sync`).
Both sides see the same load, but absolute seconds do not: the load (`uptime`) is printed at start
and end, and each side's CPU seconds (user + system, its whole process tree) are printed beside the
wall times, as a figure a busy machine distorts less.

    uv run python bench/train_overhead.py          # RUNS=7 by default
"""

from __future__ import annotations

import compileall
import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
RUNS = int(os.environ.get("RUNS", "7"))
RECIPE = REPO / "recipes" / "breast_cancer.yaml"
DATA = REPO / "data" / "breast_cancer.csv"

PLAIN = textwrap.dedent(
    """
    import json, sys, time
    from importlib import metadata
    import mlflow, mlflow.sklearn, pandas as pd
    from mlflow.models import infer_signature
    from sklearn.compose import ColumnTransformer
    from sklearn.ensemble import RandomForestClassifier
    from sklearn.impute import SimpleImputer
    from sklearn.model_selection import train_test_split
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import StandardScaler

    mlflow.set_tracking_uri(sys.argv[1])
    frame = pd.read_csv(sys.argv[2])
    y = frame.pop("diagnosis")
    X = frame.drop(columns=["patient_id"])
    X_train, X_test, y_train, y_test = train_test_split(X, y, test_size=0.3, random_state=42, stratify=y)
    pre = ColumnTransformer([("num", Pipeline([("imp", SimpleImputer(strategy="median")),
                                               ("sc", StandardScaler())]), list(X.columns))])
    pipe = Pipeline([("pre", pre), ("model", RandomForestClassifier(
        n_estimators=200, max_depth=8, n_jobs=1, random_state=42))])
    started = time.perf_counter()
    pipe.fit(X_train, y_train)
    fit_s = time.perf_counter() - started
    example = X_train.head(5)
    pins = [f"{d}=={metadata.version(d)}" for d in
            ("mlflow", "scikit-learn", "numpy", "pandas", "scipy", "cloudpickle")]
    started = time.perf_counter()
    with mlflow.start_run():
        mlflow.log_metric("test_accuracy", pipe.score(X_test, y_test))
        mlflow.sklearn.log_model(pipe, name="model", input_example=example,
                                 signature=infer_signature(example, pipe.predict(example)),
                                 serialization_format="cloudpickle", pip_requirements=pins)
    print(json.dumps({"fit_s": fit_s, "log_model_s": time.perf_counter() - started}))
    """
)


def timed(args: list[str], cwd: Path, env: dict[str, str]) -> tuple[float, float, str]:
    """Wall seconds, CPU seconds (user + system of the process and its children) and stdout."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    done = subprocess.run(args, check=True, capture_output=True, text=True, cwd=cwd, env=env)
    wall = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return wall, cpu, done.stdout


def load() -> str:
    return subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip()


def fit_seconds(tracking_uri: str, run_id: str) -> float:
    import mlflow

    return float(mlflow.MlflowClient(tracking_uri).get_run(run_id).data.metrics["fit_seconds"])


def main() -> None:
    exe = shutil.which("mmp") or sys.exit(
        "mmp is not on PATH: run with `uv run python bench/train_overhead.py`"
    )
    compileall.compile_dir(REPO / "src", quiet=1)
    print(f"load at start: {load()}")
    rows: list[dict[str, float]] = []
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        script = folder / "plain.py"
        script.write_text(PLAIN, encoding="utf-8")
        plain_uri, mmp_uri = f"sqlite:///{folder / 'plain.db'}", f"sqlite:///{folder / 'mmp.db'}"
        env = {**os.environ, "MLFLOW_TRACKING_URI": mmp_uri}
        plain_cmd = [sys.executable, str(script), plain_uri, str(DATA)]
        mmp_cmd = [exe, "train", "-r", str(RECIPE), "-d", str(DATA), "--json"]
        for _ in range(RUNS + 1):  # the first round creates both stores and is not counted
            plain_s, plain_cpu, plain_out = timed(plain_cmd, folder, env)
            mmp_s, mmp_cpu, mmp_out = timed(mmp_cmd, folder, env)
            plain = json.loads(plain_out.strip().splitlines()[-1])
            result = json.loads(mmp_out)
            rows.append(
                {
                    "plain": plain_s,
                    "plain_cpu": plain_cpu,
                    "plain_fit": plain["fit_s"],
                    "plain_log_model": plain["log_model_s"],
                    "mmp": mmp_s,
                    "mmp_cpu": mmp_cpu,
                    "mmp_fit": fit_seconds(mmp_uri, result["run_id"]),
                }
            )
            r = rows[-1]
            print(
                f"{'warm-up' if len(rows) == 1 else f'run {len(rows) - 1}'}: plain {r['plain']:.2f}s "
                f"(fit {r['plain_fit']:.2f}, log_model {r['plain_log_model']:.2f})  "
                f"mmp {r['mmp']:.2f}s (fit {r['mmp_fit']:.2f}); "
                f"CPU plain {r['plain_cpu']:.2f}s mmp {r['mmp_cpu']:.2f}s"
            )
    med = {key: statistics.median(r[key] for r in rows[1:]) for key in rows[0]}
    outside = 1 - med["mmp_fit"] / med["mmp"]
    print(
        f"median: plain fit + log_model {med['plain']:.2f}s (fit {med['plain_fit']:.2f}s, "
        f"log_model {med['plain_log_model']:.2f}s); mmp train {med['mmp']:.2f}s (fit {med['mmp_fit']:.2f}s)"
    )
    print(f"mmp train: {outside:.0%} of the time outside fit")
    print(
        f"mmp beyond the plain script: {med['mmp'] - med['plain']:+.2f}s (target <= 1 s), "
        f"ratio {med['mmp'] / med['plain']:.2f}x"
    )
    # Each round runs the two back to back, so a burst of load elsewhere hits a pair alike: the
    # median of the per-round differences is steadier than the difference of the medians.
    paired = sorted(r["mmp"] - r["plain"] for r in rows[1:])
    print(
        f"per-round difference mmp - plain: median {statistics.median(paired):+.2f}s, "
        f"range {paired[0]:+.2f}s .. {paired[-1]:+.2f}s over {len(paired)} rounds"
    )
    print(
        f"CPU seconds: plain {med['plain_cpu']:.2f}s, mmp train {med['mmp_cpu']:.2f}s, "
        f"mmp beyond plain {med['mmp_cpu'] - med['plain_cpu']:+.2f}s"
    )
    print(f"load at end: {load()}")


if __name__ == "__main__":
    main()
