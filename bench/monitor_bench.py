"""`mmp monitor` throughput and memory: a synthetic prediction log of 30 columns, 1M and 5M rows.

Writes a log folder like the server's (daily Parquet files: 25 numeric inputs, 5 categorical,
prediction and two class probabilities), profiles a reference, then runs the local engine over the
first 1M rows and over all 5M rows, each in a fresh process so the peak RSS is that run's. Prints
rows/s and peak memory per size and the ratios the issue sets:

- throughput >= 1M rows/s on this machine,
- peak memory flat from 1M to 5M rows (ratio close to 1).

    uv run python bench/monitor_bench.py                 # 5M rows (about 1 GB of temp files)
    uv run python bench/monitor_bench.py --rows 2000000  # smaller
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

NUMERIC = [f"n{i:02d}" for i in range(25)]
CATEGORICAL = [f"c{i}" for i in range(5)]
DAYS = 10


def make_log(folder: Path, rows: int) -> None:
    import numpy as np
    import pyarrow as pa
    import pyarrow.parquet as pq

    rng = np.random.default_rng(0)
    per_day = rows // DAYS
    levels = np.array([f"level{k}" for k in range(20)])
    for day in range(DAYS):
        n = per_day
        cols: dict[str, pa.Array] = {}
        start = np.datetime64("2026-03-01") + np.timedelta64(day, "D")
        offsets = np.sort(rng.integers(0, 86_400_000_000, n)).astype("timedelta64[us]")
        cols["served_at"] = pa.array(start.astype("datetime64[us]") + offsets, pa.timestamp("us", "UTC"))
        cols["request_id"] = pa.array(np.char.add(f"d{day}-", np.arange(n).astype(str)))
        for name in NUMERIC:
            cols[name] = pa.array(rng.normal(day * 0.05, 1, n))
        for name in CATEGORICAL:
            cols[name] = pa.array(levels[rng.integers(0, 20, n)])
        p = rng.random(n)
        cols["prediction"] = pa.array((p > 0.5).astype("int64"))
        cols["probability_0"] = pa.array(1 - p)
        cols["probability_1"] = pa.array(p)
        target = folder / f"date=2026-03-{day + 1:02d}" / "model_version=1"
        target.mkdir(parents=True, exist_ok=True)
        pq.write_table(pa.table(cols), target / "part-0.parquet", row_group_size=250_000)


def make_profile(path: Path) -> None:
    import numpy as np
    import pandas as pd

    from mmp.core.contract import ColumnContract, FeatureContract
    from mmp.monitoring.profile import build_profile
    from mmp.recipe.monitoring import Monitoring

    rng = np.random.default_rng(1)
    n = 50_000
    frame = pd.DataFrame({c: rng.normal(0, 1, n) for c in NUMERIC})
    for c in CATEGORICAL:
        frame[c] = rng.choice([f"level{k}" for k in range(20)], n)
    levels = [f"level{k}" for k in range(20)]
    cols = [
        ColumnContract(
            name=c, role="feature", dtype="number", pandas_dtype="float64", nullable=False, min=-6, max=6
        )
        for c in NUMERIC
    ]
    cols += [
        ColumnContract(
            name=c,
            role="feature",
            dtype="string",
            pandas_dtype="object",
            nullable=False,
            categorical=True,
            categories=levels,
        )
        for c in CATEGORICAL
    ]
    contract = FeatureContract(
        name="bench",
        task="classification",
        target_column=None,
        classes=[0, 1],
        columns=cols,
        model_input_columns=NUMERIC + CATEGORICAL,
    )
    p = rng.random(n)
    proba = np.column_stack([1 - p, p])
    profile = build_profile(contract, frame, Monitoring(), "bench", ((p > 0.5).astype("int64"), proba))
    path.write_text(profile.to_json())


CHILD = """
import json, resource, sys, time
import pyarrow.dataset as ds
from mmp.monitoring.monitor import evaluate, plan, summarise
from mmp.monitoring.profile import ReferenceProfile
from mmp.monitoring.sources import open_dataset
profile = ReferenceProfile.read(sys.argv[1])
dataset = open_dataset(sys.argv[2])
days = int(sys.argv[3])
if days:
    files = sorted(dataset.files)[:days]
    dataset = ds.dataset(files, format="parquet", partitioning="hive", partition_base_dir=sys.argv[2])
p = plan(profile, dataset.schema, sys.argv[2], window="1d")
started = time.perf_counter()
rows = [0]
states = summarise(dataset, p, sys.argv[2], on_rows=lambda n: rows.__setitem__(0, rows[0] + n))
doc = evaluate(profile, states, p, sys.argv[2])
seconds = time.perf_counter() - started
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
print(json.dumps({"rows": rows[0], "seconds": seconds, "peak_mb": peak, "windows": len(doc["windows"])}))
"""


def run(profile: Path, log: Path, days: int) -> dict[str, float]:
    done = subprocess.run(
        [sys.executable, "-c", CHILD, str(profile), str(log), str(days)],
        capture_output=True,
        text=True,
        check=True,
    )
    return dict(json.loads(done.stdout.strip().splitlines()[-1]))


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rows", type=int, default=5_000_000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="mmp-monitor-bench-") as tmp:
        folder = Path(tmp)
        started = time.perf_counter()
        make_log(folder / "log", args.rows)
        make_profile(folder / "profile.json")
        print(f"wrote {args.rows:,} rows x 30 columns in {time.perf_counter() - started:.1f}s")
        run(folder / "profile.json", folder / "log", 1)  # warm the page cache and bytecode
        small = run(folder / "profile.json", folder / "log", max(1, DAYS // 5))
        full = run(folder / "profile.json", folder / "log", 0)
    for label, r in (("1/5 of the log", small), ("whole log", full)):
        print(
            f"{label:>15}: {r['rows']:>10,.0f} rows in {r['seconds']:6.2f}s = "
            f"{r['rows'] / r['seconds']:>12,.0f} rows/s, peak RSS {r['peak_mb']:.0f} MB, "
            f"{r['windows']:.0f} windows"
        )
    print(f"throughput (whole log): {full['rows'] / full['seconds'] / 1e6:.2f} M rows/s (target >= 1)")
    print(f"peak memory whole / one fifth: {full['peak_mb'] / small['peak_mb']:.2f}x (target ~1, flat)")


if __name__ == "__main__":
    main()
