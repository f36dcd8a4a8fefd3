"""The loop after training: evaluate models on fresh labelled data, promote a version to a registry
alias only when a policy says it is better (on the record, with rollback), and retrain on a schedule.

Modules, one job each: `streaming` (metrics with bootstrap intervals in one pass), `evaluate`
(`mmp evaluate`), `decision` (the pure promotion decision), `models` (every registry call),
`ledger` (the append-only record in MLflow), `sql_mirror` (the optional `model_deployments`
table), `promote` (`mmp promote`, `mmp rollback`), `retrain` (`mmp retrain`).
"""
