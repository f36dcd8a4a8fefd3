"""The compiled numeric preprocessing equals scikit-learn's, bit for bit, or is not used.

`mmp.core.fast_preprocess` skips scikit-learn's per-call overhead for the common numeric steps. It
may only change the time a call takes: the transformed matrix (values, dtype and memory layout) and
the predictions made from it must be exactly what the fitted pipeline gives, for every input dtype
the conformance step produces, and a pipeline it cannot mirror must keep scikit-learn's path.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sklearn.compose import ColumnTransformer
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LinearRegression, LogisticRegression
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import (
    MaxAbsScaler,
    MinMaxScaler,
    OneHotEncoder,
    RobustScaler,
    StandardScaler,
)

from mmp.core.fast_preprocess import compile_preprocessing

NUMBERS = ["a", "b", "c", "d"]
OTHER = ["e", "f"]
SPECIAL = [0.0, -0.0, np.nan, np.inf, -np.inf, 1e308, -1e-308, 2.0**63, 3.5, -7.0]


def training_frame(rows: int = 60) -> pd.DataFrame:
    rng = np.random.default_rng(7)
    data = {name: rng.normal(10 * i, 3 + i, rows) for i, name in enumerate(NUMBERS + OTHER)}
    frame = pd.DataFrame(data)
    frame.loc[rng.choice(rows, 8, replace=False), "a"] = np.nan
    frame.loc[rng.choice(rows, 5, replace=False), "e"] = np.nan
    return frame


STEP_CHAINS = {
    "median+standard": lambda: [SimpleImputer(strategy="median"), StandardScaler()],
    "mean+robust": lambda: [SimpleImputer(strategy="mean"), RobustScaler()],
    "most_frequent+minmax-clip": lambda: [
        SimpleImputer(strategy="most_frequent"),
        MinMaxScaler(clip=True, feature_range=(-2, 3)),
    ],
    "constant+maxabs": lambda: [SimpleImputer(strategy="constant", fill_value=-1.5), MaxAbsScaler()],
    "median+standard-no-mean": lambda: [SimpleImputer(), StandardScaler(with_mean=False)],
    "mean-only": lambda: [SimpleImputer(strategy="mean")],
    "median+maxabs-clip": lambda: [SimpleImputer(), MaxAbsScaler(clip=True)],
}


def preprocessing(chain: str) -> Pipeline:
    """Two numeric branches (so the plan also stacks), columns in a different order from the input."""
    make = STEP_CHAINS[chain]
    return Pipeline(
        [
            (
                "preprocess",
                ColumnTransformer(
                    [
                        ("n1", Pipeline([(f"s{i}", s) for i, s in enumerate(make())]), ["c", "a", "d", "b"]),
                        (
                            "n2",
                            Pipeline([("i", SimpleImputer(strategy="median")), ("s", StandardScaler())]),
                            OTHER,
                        ),
                    ]
                ),
            )
        ]
    )


@st.composite
def frames(draw: Any) -> pd.DataFrame:
    """Frames as conformance hands them over: float64, int64 or nullable Int64/Float64 columns."""
    n = draw(st.integers(1, 9))
    data: dict[str, Any] = {}
    for name in NUMBERS + OTHER:
        dtype = draw(st.sampled_from(["float64", "int64", "Int64", "Float64"]))
        if dtype == "int64":
            data[name] = pd.Series(
                draw(st.lists(st.integers(-(2**62), 2**62), min_size=n, max_size=n)), dtype="int64"
            )
        elif dtype == "Int64":
            values = draw(
                st.lists(st.one_of(st.none(), st.integers(-(2**53), 2**53)), min_size=n, max_size=n)
            )
            data[name] = pd.Series(values, dtype="Int64")
        else:
            values = draw(
                st.lists(
                    st.one_of(st.floats(allow_nan=True), st.sampled_from(SPECIAL)), min_size=n, max_size=n
                )
            )
            series = pd.Series(values, dtype="float64")
            data[name] = series if dtype == "float64" else series.astype("Float64")
    return pd.DataFrame(data)


def same_bits(ours: np.ndarray, expected: np.ndarray) -> None:
    assert ours.dtype == expected.dtype and ours.shape == expected.shape
    assert ours.strides == expected.strides, "the memory layout decides how a matrix product sums"
    assert np.array_equal(ours.view(np.uint64), expected.view(np.uint64))


@pytest.mark.parametrize("chain", sorted(STEP_CHAINS))
@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(frame=frames())
def test_every_supported_chain_transforms_bit_for_bit(chain: str, frame: pd.DataFrame) -> None:
    fitted, plan = _fitted(chain), _compiled(chain)
    assert plan is not None, f"{chain} is a supported chain"
    with np.errstate(all="ignore"):
        ours = plan.transform(frame)
        try:
            expected = fitted.transform(frame)
        except ValueError:  # an infinite value (given, or from an overflow) that a step refuses
            assert ours is None, "scikit-learn refuses this input: so must the plan, with its error"
            return
    assert ours is not None
    same_bits(ours, expected)


_FITTED: dict[str, Pipeline] = {}


def _fitted(chain: str) -> Pipeline:
    if chain not in _FITTED:
        _FITTED[chain] = preprocessing(chain).fit(training_frame())
    return _FITTED[chain]


_COMPILED: dict[str, Any] = {}


def _compiled(chain: str) -> Any:
    if chain not in _COMPILED:
        _COMPILED[chain] = compile_preprocessing(_fitted(chain))
    return _COMPILED[chain]


@settings(max_examples=60, deadline=None)
@given(frame=frames())
def test_predictions_through_the_plan_equal_the_pipeline(frame: pd.DataFrame) -> None:
    """`core.scoring.predict` (which uses the plan) against the fitted pipeline's own methods."""
    from mmp.core.contract import FeatureContract
    from mmp.core.scoring import predict

    classifier, regressor = _models()
    finite = frame.copy()
    for name in finite:
        finite[name] = finite[name].astype("float64").clip(-1e6, 1e6)  # finite for the estimators
    with np.errstate(all="ignore"):
        out = predict(classifier, _contract("classification"), finite)
        assert out.probabilities is not None
        same_bits(out.probabilities, classifier.predict_proba(finite))
        assert out.values.tolist() == classifier.predict(finite).tolist()
        values = predict(regressor, _contract("regression"), finite).values
        same_bits(values, regressor.predict(finite))
    assert FeatureContract  # imported for _contract's annotation


_MODELS: list[Pipeline] = []


def _models() -> tuple[Pipeline, Pipeline]:
    if not _MODELS:
        X = training_frame(200)
        y = (X["b"].fillna(0) + X["f"].fillna(0) > 80).astype(int)
        steps = preprocessing("median+standard").steps
        _MODELS.append(Pipeline([*steps, ("model", LogisticRegression())]).fit(X, y))
        regression = preprocessing("mean+robust").steps
        _MODELS.append(Pipeline([*regression, ("model", LinearRegression())]).fit(X, X["d"]))
    return _MODELS[0], _MODELS[1]


def _contract(task: str) -> Any:
    from types import SimpleNamespace

    return SimpleNamespace(task=task, classes=None)


def test_a_pipeline_it_cannot_mirror_keeps_scikit_learns_path() -> None:
    X = training_frame()
    X["g"] = ["x", "y", "z"] * 20
    encoded = ColumnTransformer(
        [("n", StandardScaler(), NUMBERS), ("c", OneHotEncoder(handle_unknown="ignore"), ["g"])]
    ).fit(X)
    assert compile_preprocessing(encoded) is None, "a one-hot branch has no kernel"

    indicator = ColumnTransformer([("n", SimpleImputer(add_indicator=True), NUMBERS)]).fit(X)
    assert compile_preprocessing(indicator) is None, "indicator columns are not mirrored"

    empty = X.copy()
    empty["b"] = np.nan
    with pytest.warns(UserWarning, match="Skipping features without any observed values"):
        dropped = ColumnTransformer([("n", SimpleImputer(), NUMBERS)]).fit(empty)
    assert compile_preprocessing(dropped) is None, "a feature with no observed value is dropped by sklearn"

    pandas_out = ColumnTransformer([("n", StandardScaler(), NUMBERS)]).set_output(transform="pandas").fit(X)
    assert compile_preprocessing(pandas_out) is None, "a DataFrame output is not an array"

    passthrough = ColumnTransformer([("n", StandardScaler(), NUMBERS)], remainder="passthrough").fit(X)
    assert compile_preprocessing(passthrough) is None, "passthrough columns keep their own dtype"


def test_a_column_of_another_dtype_sends_the_call_to_scikit_learn() -> None:
    fitted = _fitted("median+standard")
    plan = compile_preprocessing(fitted)
    assert plan is not None
    frame = training_frame().head(5)
    assert plan.transform(frame) is not None
    for dtype in ("float32", "object", "boolean"):
        odd = frame.copy()
        odd["b"] = (
            odd["b"].astype(dtype) if dtype != "boolean" else pd.array([True, False, None, True, False])
        )
        assert plan.transform(odd) is None, dtype


def test_a_plan_that_differs_from_scikit_learn_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    """The bit-for-bit check at compile time is what stands between a kernel bug and a served model."""
    from mmp.core import fast_preprocess

    def off_by_one_ulp(step: Any) -> Any:
        def kernel(X: np.ndarray) -> np.ndarray:
            X -= step.mean_
            X /= step.scale_
            return np.nextafter(X, np.inf, out=X)

        return kernel

    kernels = {**fast_preprocess._KERNELS, "StandardScaler": off_by_one_ulp}
    monkeypatch.setattr(fast_preprocess, "_KERNELS", kernels)
    assert compile_preprocessing(_fitted("median+standard")) is None
