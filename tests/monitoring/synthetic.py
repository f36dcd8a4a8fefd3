"""A synthetic model and stream with a known answer: which columns shift, from which day.

The "model" is the true data-generating probability, so it is calibrated by construction, and
labels drawn from it make realized accuracy a known quantity.
"""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
import pandas as pd

from mmp.core.contract import ColumnContract, FeatureContract
from mmp.monitoring.profile import ReferenceProfile, build_profile
from mmp.recipe.monitoring import Monitoring

START = datetime(2026, 3, 1, tzinfo=UTC)
LEVELS = ["north", "south", "east", "west"]
LEVEL_P = [0.4, 0.3, 0.2, 0.1]
SHIFTED_LEVEL_P = [0.1, 0.2, 0.3, 0.4]
NUMERIC = ["x1", "x2", "x3", "x4"]
WEIGHTS = np.array([1.2, -0.8, 0.5, 0.0])


def contract() -> FeatureContract:
    cols = [
        ColumnContract(
            name="customer_id", role="entity", dtype="integer", pandas_dtype="int64", nullable=False
        )
    ]
    cols += [
        ColumnContract(
            name=n, role="feature", dtype="number", pandas_dtype="float64", nullable=False, min=-5, max=5
        )
        for n in NUMERIC
    ]
    cols.append(
        ColumnContract(
            name="region",
            role="feature",
            dtype="string",
            pandas_dtype="object",
            nullable=False,
            categorical=True,
            categories=sorted(LEVELS),
        )
    )
    cols.append(
        ColumnContract(name="churned", role="target", dtype="integer", pandas_dtype="int64", nullable=False)
    )
    return FeatureContract(
        name="churn",
        task="classification",
        target_column="churned",
        classes=[0, 1],
        columns=cols,
        model_input_columns=[*NUMERIC, "region"],
    )


def rows(n: int, rng: np.random.Generator, shifted: bool = False, sharpen: float = 1.0) -> pd.DataFrame:
    """Inputs, the model's answers and true labels. `shifted` moves x1 (+1 sd) and region's mix;
    `sharpen` > 1 makes the reported probabilities over-confident (not calibrated)."""
    frame = pd.DataFrame({n_: rng.normal(0, 1, n) for n_ in NUMERIC})
    if shifted:
        frame["x1"] += 1.0
    frame["region"] = rng.choice(LEVELS, n, p=SHIFTED_LEVEL_P if shifted else LEVEL_P)
    logit = frame[NUMERIC].to_numpy() @ WEIGHTS + frame["region"].map(
        {"north": 0.3, "south": 0, "east": -0.3, "west": 0.5}
    )
    p = 1 / (1 + np.exp(-logit.to_numpy()))
    reported = p**sharpen / (p**sharpen + (1 - p) ** sharpen)
    frame["prediction"] = (reported >= 0.5).astype("int64")
    frame["probability_0"] = 1 - reported
    frame["probability_1"] = reported
    frame["churned"] = (rng.random(n) < p).astype("int64")
    frame["customer_id"] = rng.integers(0, 10**9, n)
    return frame


def profile(seed: int = 0, n: int = 20_000, sharpen: float = 1.0) -> ReferenceProfile:
    rng = np.random.default_rng(seed)
    ref, val = rows(n, rng, sharpen=sharpen), rows(n // 2, rng, sharpen=sharpen)
    proba = ref[["probability_0", "probability_1"]].to_numpy()
    val_proba = val[["probability_0", "probability_1"]].to_numpy()
    return build_profile(
        contract(),
        ref,
        Monitoring(),
        "synthetic",
        (ref["prediction"].to_numpy(), proba),
        (val["churned"].to_numpy(), val["prediction"].to_numpy(), val_proba),
    )


def stream(
    days: int, per_day: int, shift_day: int | None, seed: int = 1, sharpen: float = 1.0
) -> pd.DataFrame:
    """`days` days of served rows; from `shift_day` on (0-based) x1 and region shift."""
    rng = np.random.default_rng(seed)
    parts = []
    for day in range(days):
        part = rows(per_day, rng, shifted=shift_day is not None and day >= shift_day, sharpen=sharpen)
        offsets = np.sort(rng.integers(0, 86_400_000_000, per_day))
        part["served_at"] = pd.to_datetime(START + timedelta(days=day)) + pd.to_timedelta(offsets, unit="us")
        part["request_id"] = [f"r{day}-{i}" for i in range(per_day)]
        parts.append(part)
    return pd.concat(parts, ignore_index=True)


def assert_same_document(local: Any, other: Any, where: str = "") -> None:
    """Equal documents, floats within 1e-9 (partial sums added in another order differ in the last bits)."""
    if isinstance(local, float) and isinstance(other, float):
        assert math.isclose(local, other, rel_tol=1e-9, abs_tol=1e-9), where
    elif isinstance(local, dict):
        assert isinstance(other, dict) and local.keys() == other.keys(), where
        for key in local:
            assert_same_document(local[key], other[key], f"{where}.{key}")
    elif isinstance(local, list):
        assert isinstance(other, list) and len(local) == len(other), where
        for i, (a, b) in enumerate(zip(local, other, strict=True)):
            assert_same_document(a, b, f"{where}[{i}]")
    else:
        assert local == other, where
