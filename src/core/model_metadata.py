"""What `mmp train` writes into a model's MLmodel file (under `metadata.mmp`), typed.

Training builds a `ModelMetadata` and stores `to_mlmodel()`; serving, batch, export and the model
lifecycle read it back with `ModelMetadata.from_mlmodel`. The block is small and sits in the MLmodel
file, so the contract can be read before (or without) downloading the pipeline itself.

`format_version` says which layout a model was written with: readers accept every version up to
`METADATA_FORMAT` (older models keep loading; fields added later have defaults) and refuse a newer
one with a one-line "upgrade mmp" instead of a confusing failure further on.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from mmp.core.contract import CONTRACT_FILE, FeatureContract
from mmp.core.errors import MmpError
from mmp.core.tasks import Task

METADATA_KEY = "mmp"
METADATA_FORMAT = 1


class ModelMetadata(BaseModel):
    """The mmp block of a model's MLmodel metadata."""

    model_config = ConfigDict(extra="allow")  # a newer minor layout may add keys: keep them, ignore them

    format_version: int = Field(default=1, description="Layout version of this block.")
    mmp_version: str | None = Field(default=None, description="mmp version that trained the model.")
    recipe_name: str = Field(description="The recipe's name: the model's name until it is registered.")
    task: Task = Field(description="What the model predicts (mmp.core.tasks).")
    trained_at: str | None = Field(default=None, description="ISO 8601 UTC time the model was logged.")
    metrics: dict[str, float] = Field(default_factory=dict)
    feature_contract: FeatureContract = Field(description="What the model expects (inline copy).")
    contract_artifact: str = Field(
        default=CONTRACT_FILE, description="The same contract as a run artifact, for tools outside mmp."
    )
    reference_profile: dict[str, Any] | None = Field(
        default=None,
        description="The reference profile as YAML (models trained before `reference_profile_json`).",
    )
    reference_profile_json: str | None = Field(
        default=None,
        description=(
            "What training data looked like, for drift checks (read by mmp.monitoring.profile): the "
            "reference profile as one line of JSON, without its copy of the contract (the "
            "`feature_contract` above). As nested YAML it made the MLmodel ~2,000 lines, which MLflow "
            "parses with pure-Python PyYAML every time it loads or logs the model."
        ),
    )

    def to_mlmodel(self) -> dict[str, Any]:
        """The `metadata=` argument for `mlflow.<flavor>.log_model`."""
        return {METADATA_KEY: self.model_dump(mode="json")}

    @classmethod
    def from_mlmodel(cls, metadata: dict[str, Any] | None, where: str) -> ModelMetadata:
        """Read the block from an MLmodel's metadata; `where` names the model in errors."""
        block = (metadata or {}).get(METADATA_KEY)
        if not isinstance(block, dict) or "feature_contract" not in block:
            raise MmpError(
                f"{where} was not trained by mmp (its MLmodel has no feature contract)",
                "train it with mmp train, or serve it with mlflow models serve",
            )
        version = block.get("format_version", 1)
        if isinstance(version, int) and version > METADATA_FORMAT:
            raise MmpError(
                f"{where} was written by a newer mmp (model format {version}, this mmp reads up to "
                f"{METADATA_FORMAT})",
                "upgrade mmp-toolkit",
            )
        contract = block["feature_contract"]
        block = {"recipe_name": contract.get("name") if isinstance(contract, dict) else None, **block}
        try:
            return cls.model_validate(block)
        except ValidationError as exc:
            first = exc.errors()[0]
            loc = ".".join(str(p) for p in first["loc"])
            raise MmpError(f"{where}: invalid mmp metadata: {loc}: {first['msg']}") from None
