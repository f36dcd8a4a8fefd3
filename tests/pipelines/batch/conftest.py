"""Helpers for batch-inference tests: run a job against the session's trained examples and compute
the predictions the same model gives when called directly on the whole frame."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import TrainedExample

_MODELS: dict[str, Any] = {}


@dataclass
class Batch:
    """Runs jobs with the session store's config; `expected` is the oracle (one direct predict)."""

    trained: dict[str, TrainedExample]
    config_path: Path

    @property
    def config(self) -> Any:
        from mmp.recipe.loader import load_config

        return load_config(self.config_path).model

    def run(self, name: str, data_path: Any, output_path: Any = None, config: Any = None, **options: Any):
        from mmp.pipelines.batch import BatchJob, run_batch

        job = BatchJob(
            model_uri=self.trained[name].registered_uri,
            data_path=str(data_path),
            output_path=None if output_path is None else str(output_path),
            **options,
        )
        return run_batch(job, config or self.config)

    def frame(self, name: str) -> Any:
        import pandas as pd

        return pd.read_csv(self.trained[name].data_path)

    def expected(self, name: str, frame: Any = None) -> Any:
        """Predictions of the raw pipeline over the whole in-memory frame, in order."""
        from mmp.core.model_store import load_model
        from mmp.core.scoring import model_input

        frame = self.frame(name) if frame is None else frame
        example = self.trained[name]
        if example.registered_uri not in _MODELS:
            _MODELS[example.registered_uri] = load_model(example.registered_uri, example.tracking_uri)
        loaded = _MODELS[example.registered_uri]
        return loaded.pipeline.predict(model_input(loaded.contract, frame))


@pytest.fixture
def batch(trained: dict[str, TrainedExample], session_store: tuple[str, Path]) -> Batch:
    return Batch(trained, session_store[1])


def read_output(path: Path) -> Any:
    """Any output file back into pandas, whatever its format."""
    import pandas as pd

    name = path.name.lower()
    if name.endswith(".parquet"):
        return pd.read_parquet(path)
    if name.endswith(".jsonl"):
        return pd.read_json(path, lines=True, dtype=False)
    return pd.read_csv(
        path, sep="\t" if name.endswith(".tsv") else ",", keep_default_na=False, na_values=[""]
    )


def leftovers(folder: Path, keep: set[str]) -> list[str]:
    """Files in `folder` other than `keep`: partial files would show up here."""
    return sorted(p.name for p in folder.iterdir() if p.name not in keep)
