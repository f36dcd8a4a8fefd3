"""The recipe and config references in docs/ are generated from the models and must be current."""

from __future__ import annotations

import pytest

from mmp.recipe.reference import DOCS
from tests.conftest import REPO


@pytest.mark.parametrize("name", sorted(DOCS))
def test_reference_doc_is_current(name: str) -> None:
    committed = (REPO / "docs" / name).read_text(encoding="utf-8")
    assert committed == DOCS[name](), f"docs/{name} is stale: run `python -m mmp.recipe.reference`"


def test_reference_mentions_every_recipe_key() -> None:
    from mmp.recipe.models import DataInterface, Recipe, SplitSpec

    text = DOCS["recipe-reference.md"]()
    for model in (Recipe, DataInterface, SplitSpec):
        for key in model.model_fields:
            assert f"| `{key}` |" in text
