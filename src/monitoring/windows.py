"""Per-window accumulators: mergeable counts for every monitored column and the prediction.

Realized metrics are not kept here: they need every labelled row of a window at once
(`mmp.monitoring.realized`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from mmp.monitoring.sketch import ColumnBins, ColumnCounts


@dataclass
class WindowState:
    """Everything one time window adds up to; two states of the same window merge by addition."""

    start_us: int | None
    rows: int = 0
    columns: dict[str, ColumnCounts] = field(default_factory=dict)
    prediction: dict[str, ColumnCounts] = field(default_factory=dict)
    confidence_sum: float = 0.0  # sum of the predicted class's probability (estimated accuracy)
    confidence_rows: int = 0

    @classmethod
    def empty(
        cls, start_us: int | None, columns: dict[str, ColumnBins], prediction: dict[str, ColumnBins]
    ) -> WindowState:
        return cls(
            start_us,
            columns={n: ColumnCounts.empty(b) for n, b in columns.items()},
            prediction={n: ColumnCounts.empty(b) for n, b in prediction.items()},
        )

    def merge(self, other: WindowState) -> None:
        self.rows += other.rows
        for group, theirs in ((self.columns, other.columns), (self.prediction, other.prediction)):
            for name, counts in theirs.items():
                group[name].merge(counts)
        self.confidence_sum += other.confidence_sum
        self.confidence_rows += other.confidence_rows

    def to_dict(self) -> dict[str, Any]:
        return {
            "start_us": self.start_us,
            "rows": self.rows,
            "columns": {n: c.to_dict() for n, c in self.columns.items()},
            "prediction": {n: c.to_dict() for n, c in self.prediction.items()},
            "confidence_sum": self.confidence_sum,
            "confidence_rows": self.confidence_rows,
        }
