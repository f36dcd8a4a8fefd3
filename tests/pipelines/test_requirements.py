"""The model's pinned requirements name the same distributions a full scan of the environment does."""

from __future__ import annotations

from importlib import metadata

import pytest

from mmp.pipelines.tracking import _distribution_of, exact_requirements


@pytest.mark.parametrize(
    "module", ["sklearn.ensemble", "lightgbm.sklearn", "xgboost.sklearn", "yaml", "dateutil"]
)
def test_distribution_lookup_agrees_with_a_full_scan(module: str) -> None:
    scanned = metadata.packages_distributions()[module.split(".")[0]]
    assert _distribution_of(module) in scanned


def test_pins_the_estimators_package_at_its_installed_version() -> None:
    from lightgbm import LGBMClassifier
    from sklearn.ensemble import RandomForestClassifier

    pins = exact_requirements([RandomForestClassifier(), LGBMClassifier(), None])
    assert pins[:2] == [
        f"mlflow=={metadata.version('mlflow')}",
        f"scikit-learn=={metadata.version('scikit-learn')}",
    ]
    assert f"lightgbm=={metadata.version('lightgbm')}" in pins
    assert len(pins) == len(set(pins))
