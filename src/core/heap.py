"""Keep the cyclic garbage collector off the libraries and the model a process holds for its life.

A process that has loaded a model holds ~400k long-lived tracked objects (scikit-learn, pandas,
pyarrow, FastAPI, MLflow, the pipeline). Every full collection walked them all with the interpreter
held: 170-370 ms measured.
- Serving: often enough under load to set the p99 at 32 clients (bench/serve_bench.py, 1 worker:
  256 ms against a p50 of 21 ms; 55 ms once frozen), and more often with the prediction log on,
  whose buffered records survive into the old generation (p99 288 -> 61 ms; p50 on/off 1.15 -> 1.08).
- Batch inference: a job whose 398k rows were all rejected (each rejected row leaves Python objects
  behind, so full passes come often) took 29.6 s, 12.3 s of them in full collections; frozen after
  the model loads, 23.3 s. A job of valid rows is unchanged: its few full passes happen while
  loading.
Frozen (`gc.freeze`), they are never walked again; reference counting still frees them when they
are dropped, so only reference cycles wait, until the next model swap collects them."""

from __future__ import annotations

import gc


def freeze_long_lived(collect: bool) -> None:
    """Freeze every object alive now; with `collect`, first collect what the last freeze kept.

    The first load passes `collect=False` (start-up garbage is small and a full collection would
    delay readiness); a reload passes True, so a replaced model's reference cycles are freed once
    instead of staying frozen.
    """
    if collect:
        gc.unfreeze()
        gc.collect()
    gc.freeze()
