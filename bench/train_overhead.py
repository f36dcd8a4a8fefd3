"""`mmp train` on the diabetes example vs the same fit + a plain `mlflow.sklearn.log_model`.

Both sides run as fresh processes (imports included) against their own SQLite store, alternating,
several times; the ratio of medians is printed. Target: mmp within 1.5x of the plain script.
"""

from __future__ import annotations

import shutil
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
RUNS = 5

PLAIN = textwrap.dedent(
    """
    import sys
    import mlflow, mlflow.sklearn, pandas as pd
    from sklearn.compose import ColumnTransformer
    from sklearn.ensemble import HistGradientBoostingRegressor
    from sklearn.impute import SimpleImputer
    from sklearn.model_selection import train_test_split
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import OneHotEncoder

    mlflow.set_tracking_uri(sys.argv[1])
    frame = pd.read_csv(sys.argv[2])
    y = frame.pop("disease_progression")
    X = frame.drop(columns=["patient_id"])
    X_train, X_test, y_train, y_test = train_test_split(X, y, test_size=0.3, random_state=42)
    numeric = [c for c in X.columns if c != "sex"]
    pre = ColumnTransformer([
        ("num", SimpleImputer(strategy="median"), numeric),
        ("cat", Pipeline([("imp", SimpleImputer(strategy="most_frequent")),
                          ("oh", OneHotEncoder(drop="if_binary", handle_unknown="ignore"))]), ["sex"]),
    ])
    pipe = Pipeline([("pre", pre), ("model", HistGradientBoostingRegressor(
        max_iter=200, learning_rate=0.05, max_leaf_nodes=15, random_state=42))])
    pipe.fit(X_train, y_train)
    with mlflow.start_run():
        mlflow.log_metric("test_r2", pipe.score(X_test, y_test))
        # skops (MLflow 3 default) refuses tree models unless their types are trusted
        mlflow.sklearn.log_model(pipe, name="model", input_example=X_train.head(5),
                                 serialization_format="cloudpickle")
    """
)


def timed(args: list[str], cwd: Path) -> float:
    started = time.perf_counter()
    subprocess.run(args, check=True, capture_output=True, cwd=cwd)
    return time.perf_counter() - started


def main() -> None:
    exe = shutil.which("mmp") or sys.exit(
        "mmp is not on PATH: run with `uv run python bench/train_overhead.py`"
    )
    data = REPO / "data" / "diabetes.csv"
    ours, plain = [], []
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        script = folder / "plain.py"
        script.write_text(PLAIN, encoding="utf-8")
        for i in range(RUNS):
            plain.append(
                timed([sys.executable, str(script), f"sqlite:///{folder / 'plain.db'}", str(data)], folder)
            )
            ours.append(
                timed([exe, "train", "-r", str(REPO / "recipes/diabetes.yaml"), "-d", str(data)], folder)
            )
            print(f"run {i + 1}: plain {plain[-1]:.2f}s  mmp {ours[-1]:.2f}s")
    p, o = statistics.median(plain), statistics.median(ours)
    print(f"median: plain fit+log_model {p:.2f}s, mmp train {o:.2f}s, ratio {o / p:.2f}x (target <= 1.5x)")


if __name__ == "__main__":
    main()
