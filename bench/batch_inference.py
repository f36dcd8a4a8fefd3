"""`mmp batch-inference` throughput and memory, against one in-process `pipeline.predict`.

Generates a 5-feature classification set, trains it with `mmp train` (a RandomForest with
n_jobs=1: a CPU-bound model), writes 1M and 10M scoring rows as Parquet, then runs, each as a fresh
process and in one go:

- baseline: load the model, read the 1M rows into pandas (not timed), time one
  `pipeline.predict` over the whole in-memory frame;
- `mmp batch-inference` on the 1M file with --workers 1 and --workers 2 (scoring throughput from
  the command's own JSON, i.e. reading + checks + predict + writing, model loading excluded; total
  wall time printed too);
- peak RSS of the whole process tree (psutil, polled) for 1M and 10M rows with --workers 1.

The 1M-row runs are repeated (--rounds, interleaved); the best and the median of each are printed,
because a shared machine's load comes in bursts.

Targets (issue 4): streaming >= 0.9x the baseline's rows/s, --workers 2 >= 1.6x, RSS(10M) <=
1.2x RSS(1M). For scale: the older mmp took 8.6 s and 677 MB for 1M rows x 5 columns.

    uv run python bench/batch_inference.py [--rows 1000000] [--big-rows 10000000] [--workdir DIR]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

FEATURES = ["f0", "f1", "f2", "f3", "f4"]
RECIPE = """\
name: bench_batch
task: classification
seed: 7
model:
  class_path: sklearn.ensemble.RandomForestClassifier
  hyperparameters: {n_estimators: 300, max_depth: 10, n_jobs: 1}
data:
  source: train.csv
  data_interface:
    entity_columns: [id]
    target_column: label
  split: {train: 0.7, validation: 0.15, test: 0.15}
preprocessing:
  numeric:
    - type: simple_imputer
      params: {strategy: median}
evaluation:
  metrics: [accuracy]
"""
BASELINE = textwrap.dedent(
    """
    import json, sys, time
    import pandas as pd
    from mmp.core.model_store import load_model
    from mmp.core.scoring import model_input
    loaded = load_model(sys.argv[1], sys.argv[2])
    frame = pd.read_parquet(sys.argv[3])
    X = model_input(loaded.contract, frame)
    loaded.pipeline.predict(X.head(1000))  # warm-up, as the batch job's first chunk would be
    started = time.perf_counter()
    loaded.pipeline.predict(X)
    seconds = time.perf_counter() - started
    print(json.dumps({"rows": len(frame), "seconds": seconds}))
    """
)


def make_rows(n: int, seed: int):
    import numpy as np
    import pandas as pd

    rng = np.random.default_rng(seed)
    frame = pd.DataFrame({name: rng.normal(size=n) for name in FEATURES})
    frame.insert(0, "id", np.arange(seed * 10**9, seed * 10**9 + n, dtype=np.int64))
    return frame


def write_parquet(path: Path, rows: int, group: int = 100_000) -> None:
    """Written group by group, so generating 10M rows does not need 10M rows of memory."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    writer = None
    for start in range(0, rows, group):
        table = pa.Table.from_pandas(
            make_rows(min(group, rows - start), seed=start // group + 1), preserve_index=False
        )
        writer = writer or pq.ParquetWriter(path, table.schema)
        writer.write_table(table)
    assert writer is not None
    writer.close()


def train(work: Path) -> tuple[str, Path]:
    frame = make_rows(20_000, seed=0)
    signal = frame["f0"] + 0.5 * frame["f1"] * frame["f2"] - frame["f3"].abs()
    frame["label"] = (signal > 0).map({True: "yes", False: "no"})
    frame.to_csv(work / "train.csv", index=False)
    (work / "recipe.yaml").write_text(RECIPE)
    config = work / "config.yaml"
    config.write_text(f"mlflow:\n  tracking_uri: sqlite:///{work / 'mlruns.db'}\n  experiment: bench\n")
    args = [mmp_exe(), "train", "-r", str(work / "recipe.yaml"), "-c", str(config)]
    done = subprocess.run([*args, "-d", str(work / "train.csv"), "--json"], capture_output=True, text=True,
                          check=True, cwd=work)  # fmt: skip
    return json.loads(done.stdout)["run_id"], config


def mmp_exe() -> str:
    return shutil.which("mmp") or sys.exit(
        "mmp is not on PATH: run with `uv run python bench/batch_inference.py`"
    )


def measured(args: list[str], cwd: Path) -> tuple[subprocess.CompletedProcess, float, int]:
    """Run a command; return it, its wall time and the peak RSS summed over its process tree."""
    import psutil

    started = time.perf_counter()
    process = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=cwd)
    root = psutil.Process(process.pid)
    peak = 0
    while process.poll() is None:
        try:
            tree = [root, *root.children(recursive=True)]
            peak = max(peak, sum(p.memory_info().rss for p in tree if p.is_running()))
        except psutil.Error:
            pass
        time.sleep(0.02)
    stdout, stderr = process.communicate()
    wall = time.perf_counter() - started
    if process.returncode != 0:
        sys.exit(f"{' '.join(args)} failed:\n{stderr}")
    return subprocess.CompletedProcess(args, process.returncode, stdout, stderr), wall, peak


def batch(
    run_id: str, config: Path, data: Path, out: Path, workers: int, work: Path
) -> tuple[dict, float, int]:
    args = [mmp_exe(), "batch-inference", "--run-id", run_id, "-c", str(config), "-d", str(data),
            "-o", str(out), "--workers", str(workers), "--force", "--json"]  # fmt: skip
    done, wall, peak = measured(args, work)
    out.unlink()
    return json.loads(done.stdout), wall, peak


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--big-rows", type=int, default=10_000_000)
    parser.add_argument("--workdir", type=Path, default=None, help="Keep data here (default: a temp dir).")
    parser.add_argument("--rounds", type=int, default=3, help="Interleaved repeats of the 1M-row runs.")
    options = parser.parse_args()
    work = options.workdir or Path(tempfile.mkdtemp(prefix="mmp-bench-batch-"))
    work.mkdir(parents=True, exist_ok=True)
    print(f"machine: {os.cpu_count()} cores; data and store in {work}")

    run_id, config = train(work)
    small, big = work / f"rows_{options.rows}.parquet", work / f"rows_{options.big_rows}.parquet"
    for path, rows in ((small, options.rows), (big, options.big_rows)):
        if not path.exists():
            write_parquet(path, rows)

    tracking = f"sqlite:///{work / 'mlruns.db'}"
    uri = f"runs:/{run_id}/model"
    baseline = [sys.executable, "-c", BASELINE, uri, tracking, str(small)]
    rates: dict[str, list[float]] = {"base": [], "one": [], "two": []}
    walls: dict[str, list[float]] = {"one": [], "two": []}
    rss: dict[str, int] = {}
    for _ in range(options.rounds):  # interleaved, so a burst of load elsewhere hits every side alike
        done, _, rss["base"] = measured(baseline, work)
        base = json.loads(done.stdout)
        rates["base"].append(base["rows"] / base["seconds"])
        for key, workers in (("one", 1), ("two", 2)):
            result, wall, peak = batch(run_id, config, small, work / f"out_{key}.parquet", workers, work)
            rates[key].append(result["rows_per_s"])
            walls[key].append(wall)
            rss[key] = max(rss.get(key, 0), peak)
    large, large_wall, rss["large"] = batch(run_id, config, big, work / "out_large.parquet", 1, work)

    best = {key: max(values) for key, values in rates.items()}
    median = {key: statistics.median(values) for key, values in rates.items()}

    def line(label: str, key: str, target: float) -> None:
        ratio = best[key] / best["base"]
        verdict = "ok" if ratio >= target else "MISS"
        print(f"{label:34s} best {best[key]:9,.0f} rows/s {ratio:5.2f}x [{verdict} vs >= {target}x]   "
              f"median {median[key]:9,.0f} rows/s {median[key] / median['base']:5.2f}x")  # fmt: skip

    print(f"\n{options.rows:,} rows x {len(FEATURES)} features, RandomForest(300 trees, depth 10, n_jobs=1), "
          f"{options.rounds} interleaved rounds")  # fmt: skip
    label, pad = "baseline: one pipeline.predict", " " * 26
    print(f"{label:34s} best {best['base']:9,.0f} rows/s{pad}median {median['base']:9,.0f} rows/s   "
          f"(in memory; process peak RSS {rss['base'] / 2**20:,.0f} MB)")  # fmt: skip
    line("mmp batch-inference --workers 1", "one", 0.9)
    line("mmp batch-inference --workers 2", "two", 1.6)
    whole = f"  whole command, {options.rows:,} rows"
    print(f"{whole}, --workers 1: best {min(walls['one']):.1f} s wall (start-up and model load included), "
          f"peak RSS {rss['one'] / 2**20:,.0f} MB   [older mmp: 8.6 s, 677 MB]")  # fmt: skip
    print(f"{whole}, --workers 2: best {min(walls['two']):.1f} s wall, peak RSS (all processes) "
          f"{rss['two'] / 2**20:,.0f} MB")  # fmt: skip
    ratio = rss["large"] / rss["one"]
    print(f"peak RSS {options.big_rows:,} rows {rss['large'] / 2**20:,.0f} MB vs {options.rows:,} rows "
          f"{rss['one'] / 2**20:,.0f} MB: {ratio:.2f}x  [{'ok' if ratio <= 1.2 else 'MISS'} vs <= 1.2x]"
          f"  ({large['rows_per_s']:,.0f} rows/s, {large_wall:.1f} s wall)")  # fmt: skip
    if options.workdir is None:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
