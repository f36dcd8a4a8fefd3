"""Hypothesis: train on generated frames (random dtypes, missingness, categories), then rows drawn
from them score identically through the in-process pipeline, the JSON path of `/predict` and the
Arrow path of batch-inference (from Parquet and from CSV text)."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

KINDS = ("float", "int", "bool", "category")


@st.composite
def frames(draw: Any) -> pd.DataFrame:
    n = 60
    rng = np.random.default_rng(draw(st.integers(0, 2**16)))
    kinds = draw(st.lists(st.sampled_from(KINDS), min_size=1, max_size=4))
    columns: dict[str, Any] = {"id": [f"R{i}" for i in range(n)]}
    for i, kind in enumerate(kinds):
        missing = rng.random(n) < draw(st.sampled_from([0.0, 0.1, 0.3]))
        if kind == "float":
            values: Any = pd.array(rng.normal(0, draw(st.sampled_from([1e-3, 1.0, 1e6])), n), dtype="Float64")
        elif kind == "int":
            values = pd.array(rng.integers(-5, 50, n), dtype="Int64")
        elif kind == "bool":
            values = pd.array(rng.random(n) < 0.5, dtype="boolean")
        else:
            levels = draw(
                st.lists(st.text("abcXYZ é🚀", min_size=1, max_size=4), min_size=2, max_size=4, unique=True)
            )
            values = pd.array(rng.choice(levels, n), dtype=object)
        values[missing] = pd.NA if kind != "category" else None
        columns[f"c{i}_{kind}"] = values
    columns["label"] = rng.integers(0, 2, n)
    columns["label"][:2] = [0, 1]
    frame = pd.DataFrame(columns)
    for name in list(frame.columns):
        if name.endswith("_float"):
            frame[name] = frame[name].astype("float64")  # NaN, as read from a file
    return frame


def _train(frame: pd.DataFrame, folder: Path) -> tuple[Any, Any]:
    from mmp.pipelines.build import build_pipeline
    from mmp.pipelines.prepare import prepare
    from mmp.recipe.config import Config
    from mmp.recipe.models import Recipe

    source = folder / "data.parquet"
    frame.to_parquet(source)
    recipe = Recipe.model_validate(
        {
            "name": "prop",
            "task": "classification",
            "model": {
                "class_path": "sklearn.tree.DecisionTreeClassifier",
                "hyperparameters": {"max_depth": 4},
            },
            "data": {
                "data_interface": {"entity_columns": ["id"], "target_column": "label"},
                "split": {"train": 0.6, "validation": 0.2, "test": 0.2},
            },
        }
    )
    prepared = prepare(recipe, Config(), str(source))
    pipeline = build_pipeline(recipe, prepared.columns, prepared.contract)
    train = prepared.splits.train
    pipeline.fit(train[prepared.columns.model_input], train["label"])
    return pipeline, prepared.contract


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(frame=frames())
def test_rows_of_generated_data_score_the_same_on_every_path(
    frame: pd.DataFrame, tmp_path_factory: Any
) -> None:
    import pyarrow as pa
    import pyarrow.csv as pacsv

    from mmp.core.conformance import convert
    from mmp.core.scoring import predict, records_frame
    from mmp.pipelines.batch.checks import coerce

    folder = tmp_path_factory.mktemp("prop")
    pipeline, contract = _train(frame, folder)
    rows = frame.drop(columns=["label"])
    direct = pipeline.predict(rows)  # the raw rows as read, through the model's first step

    rules = {name: contract.column(name).rule() for name in contract.model_input_columns}
    records = []
    for record in rows.astype(object).to_dict("records"):
        json_like = {
            k: (None if v is pd.NA or (isinstance(v, float) and np.isnan(v)) else v)
            for k, v in record.items()
        }
        records.append({name: convert(rule, json_like[name]) for name, rule in rules.items()})
    served = predict(pipeline, contract, records_frame(contract, records), probabilities=False).values
    assert served.tolist() == direct.tolist()

    specs = [contract.column(name) for name in contract.model_input_columns]
    typed, problems = coerce(pa.Table.from_pandas(rows, preserve_index=False), specs)
    assert not problems
    assert predict(pipeline, contract, typed, probabilities=False).values.tolist() == direct.tolist()

    text = io.BytesIO()
    rows.to_csv(text, index=False)
    names = list(rows.columns)
    table = pacsv.read_csv(
        io.BytesIO(text.getvalue()),
        convert_options=pacsv.ConvertOptions(
            column_types={n: pa.string() for n in names}, strings_can_be_null=True
        ),
    )
    typed, problems = coerce(table, specs)
    assert not problems
    assert predict(pipeline, contract, typed, probabilities=False).values.tolist() == direct.tolist()
