"""Run the status service under uvicorn (one process: the scrape loop lives inside the app)."""

from __future__ import annotations

import copy
import logging

from mmp.core.errors import MmpError
from mmp.core.yamlio import redact_url
from mmp.status.config import StatusConfig

logger = logging.getLogger("mmp.status")


def serve(config: StatusConfig, log_level: str = "info") -> None:
    """Serve the page and scrape until interrupted."""
    import uvicorn
    from uvicorn.config import LOGGING_CONFIG

    from mmp.status.app import create_app
    from mmp.status.store import Store

    store = Store(config.database_url())
    app = create_app(config, store)
    log_config = copy.deepcopy(LOGGING_CONFIG)
    log_config["loggers"]["mmp"] = {"handlers": ["default"], "level": log_level.upper(), "propagate": False}
    server = uvicorn.Server(
        uvicorn.Config(app, host=config.host, port=config.port, log_config=log_config, access_log=False)
    )
    logger.info(
        "watching %d targets every %gs, history in %s",
        len(config.targets),
        config.interval_s,
        redact_url(store.url),
    )
    server.run()
    if not server.started:
        raise MmpError(
            f"could not listen on {config.host}:{config.port}",
            "is another service using the port? pass --port",
        )
