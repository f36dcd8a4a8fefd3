"""`mmp monitor` throughput and memory: a synthetic prediction log of 30 columns, 1M and 5M rows.

Writes a log folder like the server's (daily zstd Parquet files: 25 numeric inputs, 5 categorical,
prediction and two class probabilities), profiles a reference, then runs the local engine, each
run in a fresh process so its peak RSS is its own, three times interleaved (medians):

- the whole log with the default threads (one per core): rows/s, the issue's target >= 1M rows/s;
- the same with one thread: rows/s per core, and the speed-up the threads give;
- the first fifth of the log: peak memory whole / fifth, the issue's target ~1 (flat);
- a plain scan of the same columns (pyarrow, no counting): the floor any monitor pays to read;
- the whole log and its first fifth with labels for every other prediction (2.5M labels at 5M
  rows: more than the 2M kept in memory, so joined through disk partitions): peak memory flat.

Each run also reports its CPU seconds, so `rows per CPU-second` stays meaningful on a busy machine,
where wall-clock rates depend on the load (printed at start and end).

    uv run python bench/monitor_bench.py                 # 5M rows (about 1 GB of temp files)
    uv run python bench/monitor_bench.py --rows 2000000  # smaller
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
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
    (folder / "labels").mkdir(parents=True, exist_ok=True)
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
        target = folder / "log" / f"date=2026-03-{day + 1:02d}" / "model_version=1"
        target.mkdir(parents=True, exist_ok=True)
        labelled = np.arange(0, n, 2)  # every other prediction gets its label
        labels = pa.table({"request_id": cols["request_id"].take(labelled), "label": (p[labelled] > 0.4)})
        pq.write_table(labels.cast(pa.schema([("request_id", pa.string()), ("label", pa.int64())])),
                       folder / "labels" / f"day-{day + 1:02d}.parquet")  # fmt: skip
        pq.write_table(  # as the server writes them (zstd)
            pa.table(cols), target / "part-0.parquet", row_group_size=250_000, compression="zstd"
        )


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
from mmp.monitoring.monitor import plan, scan_units
from mmp.monitoring.profile import ReferenceProfile
from mmp.monitoring.run import MonitorJob, run_monitor
from mmp.monitoring.sources import open_dataset
profile_path, data, labels, workers, mode = sys.argv[1:6]
workers = int(workers)
def cpu():
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime
started, cpu0 = time.perf_counter(), cpu()
rows, windows = 0, 0
if mode == "scan":  # the read floor: the same columns and reader, nothing counted
    dataset = open_dataset(data)
    p = plan(ReferenceProfile.read(profile_path), dataset.schema, data, window="1d")
    units, schema = scan_units(dataset, p)
    columns = p.read_columns(dataset.schema.names)
    for unit, _ in units:
        for batch in unit.to_batches(schema=schema, columns=columns, use_threads=False):
            rows += batch.num_rows
else:
    job = MonitorJob(data=data, reference_profile=profile_path, window="1d", workers=workers or None,
                     labels=labels if mode == "labels" else None)
    doc = run_monitor(job).document
    rows, windows = sum(w["rows"] for w in doc["windows"]), len(doc["windows"])
    if mode == "labels":
        assert all(w["realized"]["labeled_rows"] == w["rows"] // 2 for w in doc["windows"]), "labels"
seconds, cpu_s = time.perf_counter() - started, cpu() - cpu0
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
print(json.dumps({"rows": rows, "seconds": seconds, "cpu": cpu_s, "peak_mb": peak, "windows": windows}))
"""


def run(profile: Path, folder: Path, days: int, workers: int = 0, mode: str = "monitor") -> dict[str, float]:
    """One run in a fresh process: the whole log (days=0) or its first `days` days (at most 9)."""
    picked = "".join(str(d + 1) for d in range(days))
    data = str(folder / "log") if days == 0 else f"{folder}/log/date=2026-03-0[{picked}]/**/*.parquet"
    labels = str(folder / "labels") if days == 0 else f"{folder}/labels/day-0[{picked}].parquet"
    done = subprocess.run(
        [sys.executable, "-c", CHILD, str(profile), data, labels, str(workers), mode],
        capture_output=True,
        text=True,
        check=True,
    )
    return dict(json.loads(done.stdout.strip().splitlines()[-1]))


def load() -> str:
    return Path("/proc/loadavg").read_text().split(" ")[0] if Path("/proc/loadavg").exists() else "?"


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rows", type=int, default=5_000_000)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    print(f"load average at start: {load()} on {os.cpu_count()} cores")
    kinds = {"whole log": (0, 0, "monitor"), "one thread": (0, 1, "monitor"),
             "1/5 of the log": (DAYS // 5, 0, "monitor"), "scan only": (0, 1, "scan"),
             "+ labels": (0, 0, "labels"), "1/5 + labels": (DAYS // 5, 0, "labels")}  # fmt: skip
    results: dict[str, list[dict[str, float]]] = {kind: [] for kind in kinds}
    with tempfile.TemporaryDirectory(prefix="mmp-monitor-bench-") as tmp:
        folder = Path(tmp)
        started = time.perf_counter()
        make_log(folder, args.rows)
        make_profile(folder / "profile.json")
        print(f"wrote {args.rows:,} rows x 30 columns in {time.perf_counter() - started:.1f}s")
        run(folder / "profile.json", folder, 1)  # warm the page cache and bytecode
        for _ in range(args.repeat):  # interleaved, so load changes hit every kind alike
            for kind, (days, workers, mode) in kinds.items():
                results[kind].append(run(folder / "profile.json", folder, days, workers, mode))
    med = {kind: {k: statistics.median(r[k] for r in rs) for k in rs[0]} for kind, rs in results.items()}
    for kind, r in med.items():
        print(
            f"{kind:>15}: {r['rows']:>10,.0f} rows in {r['seconds']:6.2f}s = "
            f"{r['rows'] / r['seconds']:>10,.0f} rows/s ({r['rows'] / r['cpu']:>10,.0f} per CPU-second), "
            f"peak RSS {r['peak_mb']:.0f} MB"
        )
    whole, one, fifth, scan, labels, fifth_labels = (med[k] for k in kinds)
    print(f"throughput (whole log): {whole['rows'] / whole['seconds'] / 1e6:.2f} M rows/s (target >= 1)")
    print(f"threads speed-up (whole log, default / one thread): {one['seconds'] / whole['seconds']:.2f}x")
    print(f"monitor / plain scan of the same columns (one thread, CPU): {one['cpu'] / scan['cpu']:.2f}x")
    print(f"peak memory whole / one fifth: {whole['peak_mb'] / fifth['peak_mb']:.2f}x (target ~1, flat)")
    print(
        f"labels ({labels['rows'] // 2:,.0f}, joined through disk partitions) / none, whole log: "
        f"time {labels['seconds'] / whole['seconds']:.2f}x, "
        f"peak memory {labels['peak_mb'] / whole['peak_mb']:.2f}x"
    )
    print(
        f"peak memory with labels, whole / one fifth ({fifth_labels['rows'] // 2:,.0f} labels, in memory): "
        f"{labels['peak_mb'] / fifth_labels['peak_mb']:.2f}x (flat)"
    )
    print(f"load average at end: {load()}")


if __name__ == "__main__":
    main()
