"""Batch inference: stream any input through a model into an output that appears whole or not at all.

Small modules, one job each: `locations` (what the paths name), `readers` (chunked input),
`checks` (the feature contract, value by value), `scorer` (one chunk in, output and rejects out),
`parallel` (worker processes, input order kept), `writers`/`sql_writer`/`atomic` (all-or-nothing
outputs), `lineage` (`--log-run`), `spark` (`--engine spark`) and `runner`, which ties them together.
"""

from mmp.pipelines.batch.runner import BatchJob, BatchResult, run_batch

__all__ = ["BatchJob", "BatchResult", "run_batch"]
