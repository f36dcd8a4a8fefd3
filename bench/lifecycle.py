"""`mmp evaluate` and `mmp promote` speed, against the right baselines, in one run.

- evaluate vs batch-inference: the same model (the batch benchmark's RandomForest, 300 trees) on
  the same 1M labelled Parquet rows, each a fresh `mmp ... --json` process; rows/s from each
  command's own JSON (reading + checks + predict [+ bootstrap metrics | + writing], model loading
  excluded). Target (issue 12): evaluate >= 0.8x batch-inference.
- evaluate with label metrics only (accuracy, f1_macro), to separate what the probability metrics
  (roc_auc, log_loss) add. A forest's labels are the argmax of its probabilities
  (`mmp.core.class_labels`), so evaluating both walks the trees once, as batch-inference does.
- evaluate's peak RSS (process tree, psutil) on 1M and 5M rows: flat means RSS(5M) ~ RSS(1M).
- promote vs two plain predicts: the breast-cancer example trained twice and registered; `promote`
  (Python API, in process: load both versions, score both, decide, lock, move, ledger) against
  loading both versions + one `pipeline.predict` each over the same rows + reading and setting the
  alias. Target: promote < 2x.

    uv run python bench/lifecycle.py [--rows 1000000] [--big-rows 5000000] [--workdir DIR]
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from batch_inference import FEATURES, make_rows, measured, mmp_exe, train

REPO = Path(__file__).resolve().parents[1]


def write_labelled(path: Path, rows: int, group: int = 100_000) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    writer = None
    for start in range(0, rows, group):
        frame = make_rows(min(group, rows - start), seed=start // group + 1)
        signal = frame["f0"] + 0.5 * frame["f1"] * frame["f2"] - frame["f3"].abs()
        frame["label"] = (signal > 0).map({True: "yes", False: "no"})
        table = pa.Table.from_pandas(frame, preserve_index=False)
        writer = writer or pq.ParquetWriter(path, table.schema)
        writer.write_table(table)
    assert writer is not None
    writer.close()


def evaluate_vs_batch(work: Path, rows: int, big_rows: int, rounds: int) -> None:
    run_id, config = train(work)
    data, big = work / "eval.parquet", work / "eval_big.parquet"
    write_labelled(data, rows)
    write_labelled(big, big_rows)
    out = work / "out.parquet"
    rates: dict[str, list[float]] = {"batch": [], "evaluate": [], "labels": []}
    peaks: dict[str, int] = {}
    for _ in range(rounds):
        done, _, _ = measured(
            [
                mmp_exe(),
                "batch-inference",
                "--run-id",
                run_id,
                "-c",
                str(config),
                "-d",
                str(data),
                "-o",
                str(out),
                "--force",
                "--json",
            ],
            work,
        )
        rates["batch"].append(json.loads(done.stdout)["rows_per_s"])
        done, _, peak = measured(
            [mmp_exe(), "evaluate", "--run-id", run_id, "-c", str(config), "-d", str(data), "--json"], work
        )
        rates["evaluate"].append(json.loads(done.stdout)["rows_per_s"])
        # Label metrics only: no probability columns, no log loss or score histograms.
        done, _, _ = measured(
            [mmp_exe(), "evaluate", "--run-id", run_id, "-c", str(config), "-d", str(data), "--json",
             "--metric", "accuracy", "--metric", "f1_macro"],
            work,
        )  # fmt: skip
        rates["labels"].append(json.loads(done.stdout)["rows_per_s"])
        peaks["1M"] = max(peaks.get("1M", 0), peak)
    _, _, peaks["big"] = measured(
        [mmp_exe(), "evaluate", "--run-id", run_id, "-c", str(config), "-d", str(big), "--json"], work
    )
    best = {k: max(v) for k, v in rates.items()}
    median = {k: statistics.median(v) for k, v in rates.items()}
    print(f"rows: {rows:,} x {len(FEATURES)} features (RandomForest, 300 trees)")
    print(f"batch-inference rows/s: best {best['batch']:,.0f}  median {median['batch']:,.0f}")
    print(f"evaluate        rows/s: best {best['evaluate']:,.0f}  median {median['evaluate']:,.0f}")
    print(
        f"evaluate, label metrics only (accuracy, f1_macro) rows/s: best {best['labels']:,.0f}; "
        f"{best['labels'] / best['batch']:.2f}x batch-inference"
    )
    print(
        f"evaluate / batch-inference: {best['evaluate'] / best['batch']:.2f}x best, "
        f"{median['evaluate'] / median['batch']:.2f}x median (target >= 0.8x)"
    )
    print(
        f"evaluate peak RSS: {peaks['1M'] / 2**20:,.0f} MB at {rows:,} rows, "
        f"{peaks['big'] / 2**20:,.0f} MB at {big_rows:,} rows ({peaks['big'] / peaks['1M']:.2f}x)"
    )


def promote_vs_predict(work: Path, rounds: int) -> None:
    import contextlib
    import io

    import pandas as pd

    from mmp.core.model_store import load_model
    from mmp.core.scoring import model_input
    from mmp.lifecycle.promote import PromoteRequest, promote
    from mmp.pipelines.train import train as train_recipe
    from mmp.recipe.loader import load_config, load_recipe
    from mmp.recipe.promotion import PromotionPolicy

    store = work / "promote"
    store.mkdir()
    config_path = store / "config.yaml"
    config_path.write_text(f"mlflow:\n  tracking_uri: sqlite:///{store / 'mlruns.db'}\n  experiment: bench\n")
    config = load_config(config_path)
    recipe, data = REPO / "recipes/breast_cancer.yaml", REPO / "data/breast_cancer.csv"
    for _ in range(2):
        train_recipe(load_recipe(recipe), config, str(data), register_as="bc")
    client = config.model.mlflow.store().client()
    policy = PromotionPolicy(min_absolute_gain=0.0)
    plain_times, promote_times = [], []
    for _ in range(rounds):
        client.set_registered_model_alias("bc", "champion", "1")
        started = time.perf_counter()
        frame = pd.read_csv(data)
        version = client.get_model_version_by_alias("bc", "champion").version
        for v in (version, "2"):
            loaded = load_model(f"models:/bc/{v}", config.model.mlflow.tracking_uri)
            loaded.pipeline.predict(model_input(loaded.contract, frame))
        client.set_registered_model_alias("bc", "champion", "2")
        plain_times.append(time.perf_counter() - started)
        client.set_registered_model_alias("bc", "champion", "1")
        started = time.perf_counter()
        with contextlib.redirect_stderr(io.StringIO()):
            promote(
                PromoteRequest("bc", "2", data_path=str(data), force=True, reason="bench"),
                config.model,
                policy,
            )
            promote(
                PromoteRequest("bc", "1", data_path=str(data), force=True, reason="bench"),
                config.model,
                policy,
            )
        promote_times.append((time.perf_counter() - started) / 2)
    plain, promoted = statistics.median(plain_times), statistics.median(promote_times)
    print(
        f"promote (breast cancer, {len(pd.read_csv(data))} rows): {promoted:.2f}s median; two loads + two "
        f"predicts + alias read/set: {plain:.2f}s; ratio {promoted / plain:.2f}x (target < 2x)"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--big-rows", type=int, default=5_000_000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--workdir", type=Path, default=None)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(dir=args.workdir) as tmp:
        work = Path(tmp)
        evaluate_vs_batch(work, args.rows, args.big_rows, args.rounds)
        promote_vs_predict(work, args.rounds)


if __name__ == "__main__":
    main()
