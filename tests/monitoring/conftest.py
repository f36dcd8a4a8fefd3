from __future__ import annotations

from pathlib import Path

import pytest

from mmp.monitoring.profile import ReferenceProfile
from tests.monitoring import synthetic


@pytest.fixture(scope="session")
def reference(tmp_path_factory: pytest.TempPathFactory) -> tuple[ReferenceProfile, Path]:
    profile = synthetic.profile()
    path = tmp_path_factory.mktemp("reference") / "reference_profile.json"
    path.write_text(profile.to_json(), encoding="utf-8")
    return profile, path


@pytest.fixture(scope="session")
def shifted_log(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """30 days x 1000 rows; x1 and region shift on day 20."""
    folder = tmp_path_factory.mktemp("shifted")
    synthetic.stream(30, 1000, shift_day=20).to_parquet(folder / "log.parquet", index=False)
    return folder / "log.parquet"


@pytest.fixture(scope="session")
def stable_log(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("stable")
    synthetic.stream(30, 1000, shift_day=None, seed=7).to_parquet(folder / "log.parquet", index=False)
    return folder / "log.parquet"
