"""The state the routes share: the model holder, metrics, stats, the micro-batcher, and how a
scoring failure becomes an error response.

Routes are declared once (`routes.py`); everything that changes while the server runs (the model
being served, a hot reload) lives here, behind them. One `Service` per app, no module globals, so
two apps in one process never mix. `scored` is the single place every prediction passes after
scoring (metrics today; a prediction log can hook in beside them).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mmp.core.model_store import ModelCard
from mmp.serving.auth import ApiKeys
from mmp.serving.batcher import BatcherStopped, InFlight, MicroBatcher, timed
from mmp.serving.columns import Columns
from mmp.serving.errors import REQUEST_ID_KEY, ApiError
from mmp.serving.prediction_logging import Monitoring
from mmp.serving.runtime import ModelHolder
from mmp.serving.schema import Schemas
from mmp.serving.scorer import ServedModel, UnscorableInput, score_isolating, score_rows
from mmp.serving.settings import ServeSettings
from mmp.serving.stats import RollingStats, SharedStats
from mmp.serving.workers import WorkerReadiness

if TYPE_CHECKING:
    from starlette.requests import Request

logger = logging.getLogger("mmp.serving")


class Service:
    """What the routes of one app read: the served model, its declared schemas, limits, metrics."""

    def __init__(
        self, settings: ServeSettings, card: ModelCard, schemas: Schemas, holder: ModelHolder
    ) -> None:
        self.settings = settings
        self.card = card
        self.schemas = schemas
        self.holder = holder
        self.metrics = holder.metrics
        self.stats = RollingStats()
        state = settings.state_dir
        self.shared = SharedStats(self.stats, Path(state) / "stats") if state else None
        self.readiness: WorkerReadiness | None = None  # several workers: /ready waits for all
        if state and settings.workers > 1:
            self.readiness = WorkerReadiness(Path(state) / "ready", settings.workers)
        self.keys = ApiKeys(settings.keys(), settings.docs_public)
        self.classifier = card.contract.task == "classification"
        # The served model's name: a reload keeps it (an alias belongs to one registered model).
        self.model_name = card.identity.name
        self.batcher: MicroBatcher | None = None
        self.in_flight = InFlight()  # /predict requests in the server, counted by the middleware
        self.score = timed(score_rows, self._observe)
        self.score_batch = timed(score_isolating, self._observe)
        self.monitoring = Monitoring(settings.prediction_log, self.metrics)

    def _observe(self, model: ServedModel, kind: str, rows: int, seconds: float) -> None:
        self.metrics.inference.labels(model.loaded.identity.name, model.label, kind).observe(seconds)
        self.metrics.batch_size.labels(kind).observe(rows)

    def record(self, route: str, method: str, status: int, version: str, seconds: float) -> None:
        """One finished request (called by the middleware for every route)."""
        self.metrics.requests.labels(route, method, str(status), self.model_name, version).observe(seconds)
        self.stats.record(route, status, seconds)

    def stats_snapshot(self) -> dict[str, Any]:
        """`/stats`: every worker's requests when there are several, else this process's."""
        if self.shared is not None:
            return self.shared.snapshot()
        return {"workers": 1, **self.stats.snapshot()}

    def version_label(self) -> str:
        current = self.holder.current
        return current.label if current is not None else ""

    def model(self) -> ServedModel:
        """The model serving now, or a 503 while it loads."""
        current = self.holder.current
        if current is None:
            raise ApiError(503, "not_ready", "the model is still loading: retry when /ready is 200")
        return current

    async def score_one(self, row: dict[str, Any]) -> tuple[dict[str, Any], ServedModel]:
        model = self.model()  # 503 while loading
        if self.batcher is not None:
            return await self.batcher.submit(row)
        import anyio

        results = await anyio.to_thread.run_sync(self.score, model, [row], "single", abandon_on_cancel=True)
        return results[0], model

    async def score_many(self, columns: Columns) -> tuple[list[dict[str, Any]], ServedModel]:
        import anyio

        model = self.model()
        results = await anyio.to_thread.run_sync(
            self.score_batch, model, columns, "batch", abandon_on_cancel=True
        )
        return results, model

    def scored(
        self,
        model: ServedModel,
        results: list[dict[str, Any]],
        rows: Sequence[dict[str, Any]] | None = None,
        request_id: str = "-",
        started: float | None = None,
        batch: bool = False,
    ) -> None:
        """After every successful scoring, before the response is sent."""
        self.metrics.count_predictions(model.label, results, self.classifier)
        # --- prediction log (serving.prediction_log): an O(1) hand-off, never waits on a write
        if rows is not None:
            seconds = time.perf_counter() - started if started is not None else 0.0
            self.monitoring.scored(request_id, model, rows, results, seconds, batch)

    def start_batching(self) -> None:
        if self.settings.micro_batching:
            self.batcher = MicroBatcher(
                lambda: self.holder.current,
                self.score,
                self.settings.micro_batch_max_size,
                self.settings.micro_batch_max_wait_ms / 1000,
                self.in_flight,
            )
            self.batcher.start()

    async def stop_batching(self) -> None:
        if self.batcher is not None:
            await self.batcher.stop()
            self.batcher = None

    def failure(self, exc: BaseException, request: Request, field_prefix: tuple[str | int, ...]) -> ApiError:
        """Map a scoring exception to the error to send (and log model bugs with the request id)."""
        if isinstance(exc, ApiError):
            return exc
        if isinstance(exc, UnscorableInput):
            loc = [*field_prefix, exc.index] if exc.index is not None and field_prefix else list(field_prefix)
            fields = [
                {
                    "field": ".".join(str(p) for p in loc) or "(body)",
                    "loc": loc,
                    "message": str(exc),
                    "type": "unscorable_input",
                }
            ]
            return ApiError(422, "unscorable_input", f"the model cannot score this input: {exc}", fields)
        if isinstance(exc, BatcherStopped):
            return ApiError(503, "shutting_down", "the server is shutting down: retry on another instance")
        request_id = request.scope.get(REQUEST_ID_KEY, "-")
        logger.error("model failure, request_id=%s", request_id, exc_info=exc)
        return ApiError(
            500,
            "model_error",
            "the model failed to score this request; the server log has the details "
            f"(request id {request_id})",
        )
