"""`mmp retrain`: train + register + promote in one call, the weekly job in one line.

The new version is judged against the alias's holder on `eval_data` when given (recent labelled
rows: the honest choice), else on the recipe's test split of the data just trained on (the same
seed gives the same split `mmp train` held out, written to a temporary Parquet file and read back
like any evaluation input).
"""

from __future__ import annotations

import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mmp.core.errors import MmpError
from mmp.core.progress import NullProgress, Progress
from mmp.lifecycle.promote import PromoteRequest, PromoteResult, promote

if TYPE_CHECKING:
    from mmp.recipe.config import Config
    from mmp.recipe.loader import Loaded
    from mmp.recipe.models import Recipe


@dataclass(frozen=True)
class RetrainRequest:
    data_path: str | None = None
    eval_data: str | None = None
    register_as: str | None = None
    alias: str = "champion"
    dry_run: bool = False
    actor: str | None = None
    reason: str | None = None
    segment_by: str | None = None


@dataclass
class RetrainResult:
    run_id: str
    name: str
    version: str
    judged_on: str
    promotion: PromoteResult

    @property
    def exit_code(self) -> int:
        return self.promotion.exit_code

    def to_dict(self) -> dict[str, Any]:
        return {
            "run_id": self.run_id,
            "name": self.name,
            "version": self.version,
            "judged_on": self.judged_on,
            "promotion": self.promotion.to_dict(),
        }


def retrain(
    request: RetrainRequest,
    recipe: Loaded[Recipe],
    config: Loaded[Config],
    progress: Progress | None = None,
) -> RetrainResult:
    """Train the recipe, register the model, and promote the new version if the policy says so."""
    from mmp.pipelines.train import train

    progress = progress or NullProgress()
    name = request.register_as or config.model.mlflow.registered_model_name or recipe.model.name
    trained = train(recipe, config, request.data_path, register_as=name, progress=progress)
    assert trained.registered_version is not None
    with tempfile.TemporaryDirectory(prefix="mmp-retrain-") as tmp:
        if request.eval_data:
            judged_on = data = request.eval_data
        else:
            data = _test_split(recipe.model, config.model, request.data_path, Path(tmp))
            judged_on = "the recipe's test split"
        result = promote(
            PromoteRequest(
                name=name,
                version=trained.registered_version,
                alias=request.alias,
                data_path=data,
                dry_run=request.dry_run,
                reason=request.reason or f"retrain (run {trained.run_id})",
                actor=request.actor,
                segment_by=request.segment_by,
                data_label=judged_on,
            ),
            config.model,
            policy=recipe.model.promotion,
            progress=progress,
        )
    return RetrainResult(trained.run_id, name, trained.registered_version, judged_on, result)


def _test_split(recipe: Recipe, config: Config, data_path: str | None, folder: Path) -> str:
    from mmp.pipelines.prepare import prepare

    prepared = prepare(recipe, config, data_path)
    test = prepared.splits.test
    if len(test) == 0:
        raise MmpError(
            "the recipe's test split is empty: nothing to judge the new version on",
            "set data.split.test > 0 in the recipe, or pass --eval-data",
        )
    path = folder / "test_split.parquet"
    test.to_parquet(path, index=False)
    return str(path)


def retrain_paths(
    recipe_path: str | Path,
    config_path: str | Path | None = None,
    progress: Progress | None = None,
    **options: Any,
) -> RetrainResult:
    """`retrain` from file paths, for schedulers calling Python (e.g. the generated Prefect flow).

    `options` are `RetrainRequest` fields: data_path, eval_data, register_as, alias, actor, ...
    """
    from mmp.recipe.loader import load_config, load_recipe

    recipe = load_recipe(Path(recipe_path))
    config = load_config(Path(config_path) if config_path else None)
    return retrain(RetrainRequest(**options), recipe, config, progress)
