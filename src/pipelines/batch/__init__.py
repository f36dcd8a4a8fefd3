"""Batch inference: stream any input through a model into an output that appears whole or not at all.

Small modules, one job each, in layers (import-linter checks them; see pyproject.toml):

- `runner`: `run_batch`, which plans the job, runs it on the chosen engine and records it;
- `local` | `spark` | `lineage`: the two engines (siblings, never importing each other) and `--log-run`;
- `job`: the shared types (`BatchJob`, `Plan`, `BatchResult`, the `Engine` signature) and `plan`;
- `parallel` (worker processes, input order kept), `threads` (prefetch, background writing),
  `readers` (chunked input);
- `writers`/`sql_writer` (staged outputs, `mmp.core.staged`'s commit/abort protocol), `scorer`
  (one chunk in, output and rejects out);
- `locations` (what the paths name), `checks` (the feature contract, value by value).
"""

from mmp.pipelines.batch.runner import BatchJob, BatchResult, run_batch

__all__ = ["BatchJob", "BatchResult", "run_batch"]
