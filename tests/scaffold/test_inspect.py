"""Data inspection for `mmp get-recipe --from-data`: each rule on a frame made for it."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from mmp.core.errors import MmpError
from mmp.scaffold.inspect import inspect_frame


def _frame(rows: int = 200) -> pd.DataFrame:
    rng = np.random.default_rng(0)
    return pd.DataFrame(
        {
            "customer_id": [f"C{i:05d}" for i in range(rows)],
            "row": np.arange(1, rows + 1),
            "email": [f"user{i}@example.com" for i in range(rows)],
            "signup_date": pd.date_range("2024-01-01", periods=rows, freq="D").strftime("%Y-%m-%d"),
            "plan": rng.choice(["free", "pro", "team"], rows),
            "is_active": rng.random(rows) > 0.5,
            "gender_code": rng.choice([1, 2], rows),
            "spend": rng.gamma(2.0, 30.0, rows).round(2),
            "visits": rng.poisson(5, rows),
            "comment": [f"free text number {i % 120}" for i in range(rows)],
            "country": ["FR"] * rows,
            "empty": [None] * rows,
            "churned": rng.choice(["yes", "no"], rows),
        }
    )


def test_every_column_gets_a_role_with_a_reason() -> None:
    profile = inspect_frame(_frame(), "customers.csv", "churned")
    roles = {c.name: c.role for c in profile.columns}
    assert roles == {
        "customer_id": "entity",
        "row": "entity",
        "email": "entity",
        "signup_date": "timestamp",
        "plan": "categorical",
        "is_active": "categorical",
        "gender_code": "categorical",
        "spend": "numeric",
        "visits": "numeric",
        "comment": "dropped",
        "country": "dropped",
        "empty": "dropped",
        "churned": "target",
    }
    reasons = {c.name: c.reason for c in profile.columns}
    assert reasons["customer_id"] == "an id-like name"
    assert reasons["row"].startswith("a row number")
    assert reasons["email"] == "a different value on every row"
    assert reasons["signup_date"] == "ISO-8601 dates"
    assert reasons["gender_code"].startswith("two whole-number values")
    assert "distinct values" in reasons["comment"]
    assert reasons["country"].startswith("one value only")
    assert reasons["empty"] == "every value is missing"
    assert profile.task == "classification" and profile.task_reason == "the target holds text"


@pytest.mark.parametrize(
    ("target", "extra", "task", "reason"),
    [
        (None, {}, "clustering", "no target column"),
        ("label", {"label": [True, False] * 50}, "classification", "the target holds true/false"),
        ("label", {"label": [0, 1, 2, 3] * 25}, "classification", "the target has 4 whole-number values"),
        ("label", {"label": np.linspace(0, 1, 100)}, "regression", "a numeric target"),
        (
            "label",
            {"label": np.linspace(0, 1, 100), "day": pd.date_range("2024-01-01", periods=100)},
            "timeseries",
            "a numeric target and a date column (one series)",
        ),
        (
            "label",
            {"label": [0, 1] * 50, "day": pd.date_range("2024-01-01", periods=100)},
            "classification",
            "the target has two values",
        ),
        (
            "label",
            {
                "label": np.linspace(0, 1, 100),
                "day": pd.date_range("2024-01-01", periods=100),
                "id": range(100),
            },
            "regression",  # one row per entity: the date does not make a time series
            "a numeric target",
        ),
    ],
)
def test_task_is_guessed_from_the_target(target: str | None, extra: dict, task: str, reason: str) -> None:
    frame = pd.DataFrame({"x": np.arange(100) * 1.5, **extra})
    profile = inspect_frame(frame, "d.csv", target)
    assert (profile.task, profile.task_reason) == (task, reason)


def test_explicit_choices_win_over_the_proposal() -> None:
    profile = inspect_frame(
        _frame(),
        "customers.csv",
        "spend",
        task="regression",
        entity_columns=["customer_id"],
        timestamp_column=None,
    )
    assert profile.task == "regression" and profile.task_reason == "chosen with --task"
    assert profile.entity_columns == ["customer_id"]
    roles = {c.name: (c.role, c.reason) for c in profile.columns}
    assert roles["email"] == ("dropped", "a different value on every row, not chosen as an entity")
    assert roles["row"][0] == "dropped"


def test_a_second_date_column_is_left_out_and_the_time_named_one_wins() -> None:
    frame = pd.DataFrame(
        {
            "opened": pd.date_range("2023-01-01", periods=60).strftime("%Y-%m-%d"),
            "order_date": pd.date_range("2024-01-01", periods=60).strftime("%Y-%m-%dT%H:%M:%S"),
            "y": np.arange(60, dtype=float),
        }
    )
    profile = inspect_frame(frame, "d.csv", "y")
    assert profile.timestamp_column == "order_date"
    assert profile.dropped == {"opened": "another date column: derive features from it in your data"}


def test_repeated_entities_are_detected() -> None:
    frame = pd.DataFrame({"store_id": [1, 1, 2, 2], "x": [1.0, 2.0, 3.0, 4.0], "y": [1.5, 2.5, 3.5, 4.5]})
    assert inspect_frame(frame, "d.csv", "y").entities_repeat
    assert not inspect_frame(frame.drop_duplicates("store_id"), "d.csv", "y").entities_repeat


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"target": "churn"}, "has no column 'churn' (did you mean 'churned'?)"),
        ({"target": "spend", "entity_columns": ["custmer_id"]}, "did you mean 'customer_id'?"),
        ({"target": "churned", "task": "regression"}, "a regression needs numbers"),
        ({"target": None, "task": "regression"}, "a regression recipe needs a target column"),
        ({"target": "churned", "task": "clustering"}, "clustering recipes have no target"),
        ({"target": "empty"}, "has no values"),
    ],
)
def test_impossible_choices_are_one_line_errors(kwargs: dict, message: str) -> None:
    with pytest.raises(MmpError, match=message.replace("(", r"\(").replace(")", r"\)").replace("?", r"\?")):
        inspect_frame(_frame(), "customers.csv", **kwargs)


def test_timeseries_without_any_date_column_says_how_to_name_one() -> None:
    frame = pd.DataFrame({"x": np.arange(50.0), "y": np.arange(50.0)})
    with pytest.raises(MmpError, match="needs a date column") as caught:
        inspect_frame(frame, "d.csv", "y", task="timeseries")
    assert "--timestamp" in (caught.value.hint or "")


def test_numbers_that_look_like_dates_are_not_timestamps() -> None:
    frame = pd.DataFrame({"yyyymmdd": np.arange(20240101, 20240161), "y": np.arange(60.0)})
    profile = inspect_frame(frame, "d.csv", "y")
    assert profile.timestamp_column is None


def test_a_date_kept_for_a_random_split_is_said_to_be_unused() -> None:
    from mmp.scaffold.recipes import choices_from_profile

    frame = pd.DataFrame(
        {
            "customer_id": [f"C{i}" for i in range(100)],
            "signup": pd.date_range("2024-01-01", periods=100).strftime("%Y-%m-%d"),
            "x": np.arange(100) * 1.5,
            "y": np.linspace(0, 1, 100),
        }
    )
    profile = inspect_frame(frame, "d.csv", "y")
    assert profile.task == "regression" and profile.timestamp_column == "signup"
    notes = choices_from_profile(profile).notes
    assert any(n.startswith("signup: timestamp") and "unused" in n for n in notes), notes
