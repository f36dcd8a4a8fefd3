"""`create_app(config) -> FastAPI`: the status page, its JSON API and the scrape loop behind them.

Every answer is computed from the database, so replicas sharing one PostgreSQL show the same page.
Bad input gets `{"status": "error", "message": ...}` with a 4xx, never a traceback.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING, Any

from mmp.status.collector import Collector
from mmp.status.config import StatusConfig
from mmp.status.page import render, render_tiles
from mmp.status.store import Store
from mmp.status.views import UnknownModel, Views, envelope, iso

if TYPE_CHECKING:
    from fastapi import FastAPI


def _json(body: dict[str, Any]) -> Any:
    """Pre-serialised JSON: thousands of history points need no re-validation on the way out."""
    from fastapi import Response

    return Response(json.dumps(body, allow_nan=False, separators=(",", ":")), media_type="application/json")


def _error(status: int, text: str) -> Any:
    from fastapi.responses import JSONResponse

    return JSONResponse({"status": "error", "message": text}, status_code=status)


def create_app(
    config: StatusConfig,
    store: Store | None = None,
    clock: Callable[[], float] = time.time,
    collect: bool = True,
) -> FastAPI:
    """The app; with `collect` it scrapes the targets in the background while it runs."""
    from fastapi import FastAPI, Query, Request
    from fastapi.exceptions import RequestValidationError
    from fastapi.responses import HTMLResponse

    store = store or Store(config.database_url())
    collector = Collector(config, store, clock)
    views = Views(config, store)

    def tiles_html(now: float) -> str:
        """The page's tiles and charts, rendered once per collection."""

        def tiles() -> str:
            reloads = _reload_marks(store, now)
            return render_tiles(config, views.current(now), views.charts(now), reloads, now)

        return views.cached(("tiles",), tiles)

    def warm() -> None:  # after each collection: the page and the default history are ready
        now = clock()
        views.warm(now)
        tiles_html(now)

    collector.after_collect.append(warm)
    max_hours = config.retention_hours

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        task = asyncio.create_task(collector.run(), name="mmp-status-collector") if collect else None
        try:
            yield
        finally:
            if task is not None:
                task.cancel()
                await asyncio.gather(task, return_exceptions=True)
            await collector.notifier.drain()

    app = FastAPI(title="mmp status", lifespan=lifespan)
    app.state.collector = collector
    app.state.store = store
    app.state.views = views

    @app.exception_handler(RequestValidationError)
    async def _bad_request(_request: Request, exc: RequestValidationError) -> Any:
        first = exc.errors()[0] if exc.errors() else {}
        where = ".".join(str(p) for p in first.get("loc", ()) if p != "query") or "request"
        return _error(400, f"{where}: {first.get('msg', 'invalid value')}")

    @app.exception_handler(UnknownModel)
    async def _unknown(_request: Request, exc: UnknownModel) -> Any:
        return _error(404, str(exc))

    def last() -> float | None:
        return store.last_tick()

    hours_q = Query(24.0, gt=0, le=max_hours, description="How far back, in hours.")

    @app.get("/api/metrics")
    def metrics() -> Any:
        """Per model: up/down, version, current p50/p95/p99, request and error rates, colour state."""
        return _json(envelope(views.current(clock()), last()))

    @app.get("/api/metrics/p95")
    def p95() -> Any:
        data = [
            {k: m[k] for k in ("model_name", "model_version", "p95_ms", "state", "up", "timestamp")}
            for m in views.current(clock())
        ]
        return _json(envelope(data, last()))

    @app.get("/api/metrics/history")
    def history(
        hours: float = hours_q,
        model_name: str | None = Query(None, description="One model; all when omitted."),
        step_s: float | None = Query(None, gt=0, description="Point spacing; default keeps <= 288 points."),
    ) -> Any:
        from fastapi import Response

        return Response(views.history_body(hours, model_name, clock(), step_s), media_type="application/json")

    @app.get("/api/timeline")
    def timeline(hours: float = hours_q, model_name: str | None = Query(None)) -> Any:
        """Up/down changes and served-version changes (reloads)."""
        return _json(envelope(views.timeline(hours, model_name, clock()), last()))

    @app.get("/api/alerts")
    def alerts(hours: float = hours_q) -> Any:
        return _json(envelope(views.alerts(hours, clock()), last()))

    @app.get("/api/health")
    def health() -> Any:
        """The service itself: last collection time, and 'stale' when it is older than 3 intervals."""
        tick = last()
        now = clock()
        scraped = store.latest_scrapes(now - 3 * config.interval_s)
        data = [
            {"model_name": t.name, "up": bool(scraped.get(t.name, {}).get("up", False)), "url": t.url}
            for t in config.targets
        ]
        fresh = tick is not None and now - tick <= 3 * config.interval_s + config.scrape_timeout_s
        body = envelope(data, tick)
        body["status"] = "success" if fresh else "stale"
        body["interval_s"] = config.interval_s
        return _json(body)

    @app.get("/", response_class=HTMLResponse)
    def page() -> str:
        now = clock()
        # alerts are read on every visit: they are claimed just after a collection's rows are stored
        return render(config, tiles_html(now), views.alerts(24, now), now, iso(last()))

    return app


def _reload_marks(store: Store, now: float) -> dict[str, list[float]]:
    reloads: dict[str, list[float]] = {}
    for row in store.timeline(now - 86400, None, versions_only=True):
        reloads.setdefault(row["target"], []).append(row["ts"])
    return reloads
