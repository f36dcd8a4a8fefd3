"""Wall time of `mmp --help` (and each subcommand's), the best of several runs: the CLI must feel instant."""

from __future__ import annotations

import shutil
import statistics
import subprocess
import sys
import time

RUNS = 7


def wall(args: list[str]) -> float:
    times = []
    for _ in range(RUNS):
        started = time.perf_counter()
        subprocess.run(args, check=True, capture_output=True)
        times.append(time.perf_counter() - started)
    return min(times), statistics.median(times)


def main() -> None:
    exe = shutil.which("mmp") or sys.exit("mmp is not on PATH: run with `uv run python bench/cli_help.py`")
    baseline_min, baseline_med = wall([sys.executable, "-c", "pass"])
    print(f"python -c pass           min {baseline_min * 1000:6.0f} ms  median {baseline_med * 1000:6.0f} ms")
    commands = [["--help"], ["train", "--help"], ["validate", "--help"]]
    listing = subprocess.run([exe, "--help"], capture_output=True, text=True).stdout
    for extra in ("serve-api", "batch-inference", "init", "get-recipe", "get-config", "export-model"):
        if f" {extra} " in listing:
            commands.append([extra, "--help"])
    for args in commands:
        best, median = wall([exe, *args])
        flag = "ok" if median < 0.3 else "SLOW"
        label = "mmp " + " ".join(args)
        print(f"{label:26s} min {best * 1000:6.0f} ms  median {median * 1000:6.0f} ms  [{flag} vs 300 ms]")


if __name__ == "__main__":
    main()
