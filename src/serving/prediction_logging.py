"""The server's side of monitoring: hand scored records to the prediction log, take labels.

Kept out of the routes: a route calls `Monitoring.scored(...)` after it has its results (an O(1)
hand-off, see `mmp.monitoring.prediction_log`), and `POST /labels` checks labels against the served
model's contract and appends them to the labels log before answering.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from mmp.serving.errors import ApiError

if TYPE_CHECKING:
    from mmp.monitoring.labels import LabelStore
    from mmp.monitoring.prediction_log import PredictionLog
    from mmp.recipe.config import PredictionLogSettings
    from mmp.serving.metrics import ServingMetrics
    from mmp.serving.scorer import ServedModel

logger = logging.getLogger("mmp.serving")
MAX_LABELS = 10_000


class Monitoring:
    """Owns the prediction log and the label store of one server process (both off by default)."""

    def __init__(self, settings: PredictionLogSettings, metrics: ServingMetrics) -> None:
        self.settings = settings
        self.metrics = metrics
        self.log: PredictionLog | None = None
        self.labels: LabelStore | None = None

    @property
    def enabled(self) -> bool:
        return self.settings.enabled

    def start(self) -> None:
        """Open the log (each worker its own files); errors are the user's config, so they stop startup."""
        if not self.settings.enabled or self.log is not None:
            return
        from mmp.monitoring.labels import LabelStore
        from mmp.monitoring.prediction_log import open_log
        from mmp.recipe.config import SqlSettings

        def uri(name: str) -> str:
            return SqlSettings(uri_env=name).uri()

        self.log = open_log(
            self.settings,
            uri,
            on_drop=self.metrics.prediction_log_dropped.inc,
            on_written=self.metrics.prediction_log_written.inc,
        )
        if self.settings.kind == "sql":
            self.labels = LabelStore("", sql_uri=uri(self.settings.uri_env), table=self.settings.labels_table)
        else:
            self.labels = LabelStore(self.settings.labels_location())

    def close(self) -> None:
        """Flush what is buffered (a clean shutdown loses nothing)."""
        if self.log is not None:
            self.log.close()
            self.log = None

    def scored(
        self,
        request_id: str,
        model: ServedModel,
        rows: Sequence[dict[str, Any]],
        results: list[dict[str, Any]],
        seconds: float,
        batch: bool,
    ) -> None:
        log = self.log
        if log is None:
            return
        log.record(
            request_id,
            model.loaded.identity.name,
            model.label,
            model.loaded.contract,
            rows,
            results,
            seconds,
            batch,
        )

    def accept_labels(self, model: ServedModel, body: Any) -> int:
        """Check and append labels; raise `ApiError` 422 naming every bad field."""
        from mmp.monitoring.labels import InvalidLabels, check_labels

        if self.labels is None:
            raise ApiError(
                409,
                "labels_disabled",
                "labels are stored beside the prediction log: enable serving.prediction_log in the config",
            )
        records = body.get("labels") if isinstance(body, dict) else None
        if not isinstance(records, list) or not records:
            raise ApiError(
                422,
                "invalid_labels",
                'expected {"labels": [{"request_id": "...", "label": ...}, ...]}',
                [{"field": "labels", "loc": ["labels"], "message": "a non-empty list", "type": "invalid"}],
            )
        if len(records) > MAX_LABELS:
            raise ApiError(413, "payload_too_large", f"at most {MAX_LABELS} labels per request")
        try:
            rows = check_labels(model.loaded.contract, records)
        except InvalidLabels as exc:
            fields = [
                {
                    "field": ".".join(map(str, p.loc)),
                    "loc": p.loc,
                    "message": p.message,
                    "type": "invalid_label",
                }
                for p in exc.problems[:50]
            ]
            raise ApiError(
                422, "invalid_labels", f"{len(exc.problems)} invalid label field(s)", fields
            ) from None
        return self.labels.append(model.loaded.contract, rows)
