"""Project names: what becomes a folder, a distribution and an import name, and what is refused."""

from __future__ import annotations

import pytest

from mmp.core.errors import MmpError
from mmp.scaffold.names import project_names


@pytest.mark.parametrize(
    ("raw", "distribution", "package"),
    [
        ("sales-forecast", "sales-forecast", "sales_forecast"),
        ("Churn_Model", "churn-model", "churn_model"),
        ("demand.v2", "demand-v2", "demand_v2"),
        ("  padded  ", "padded", "padded"),
        ("a1", "a1", "a1"),
    ],
)
def test_names_are_derived(raw: str, distribution: str, package: str) -> None:
    names = project_names(raw)
    assert (names.distribution, names.package) == (distribution, package)
    assert names.package.isidentifier()


@pytest.mark.parametrize(
    ("raw", "fragment"),
    [
        ("", "empty"),
        ("../evil", "contains a path"),
        ("a/b", "contains a path"),
        ("a\\b", "contains a path"),
        ("..", "contains a path"),
        ("a..b", "contains a path"),
        ("/abs", "contains a path"),
        ("1project", "not a valid project name"),
        ("-flag", "not a valid project name"),
        ("trailing-", "not a valid project name"),
        ("sp ace", "not a valid project name"),
        ("ünï", "not a valid project name"),
        ("x" * 65, "longer than"),
        ("class", "keyword"),
        ("mlflow", "shadow"),
        ("pandas", "shadow"),
        ("json", "shadow"),
        ("Tests", "shadow"),
    ],
)
def test_bad_names_are_refused_with_a_fix(raw: str, fragment: str) -> None:
    with pytest.raises(MmpError) as caught:
        project_names(raw)
    assert fragment in caught.value.message
    assert caught.value.hint
