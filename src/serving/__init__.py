"""`mmp serve-api`: the HTTP scoring service for a model trained by `mmp train`.

Modules, each with one job: `settings` (what to serve and how, round-tripped through the
environment for worker processes), `schema` (request/response models generated from the feature
contract), `scorer` (records in, predictions out), `runtime` (loading, warm-up, hot reload),
`batcher` (micro-batching), `middleware` (request id, keys, limits, timeout, metrics), `errors`
(the one error shape), `metrics` and `stats` (Prometheus and /stats), `app` (`create_app`),
`server` (uvicorn, one or N workers) and `launch` (command-line options to settings).

Nothing heavy is imported here: the CLI imports only what it needs, when it needs it.
"""
