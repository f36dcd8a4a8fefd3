"""The fast per-column counts equal a plain Python count, whatever the Arrow layout of the column."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mmp.monitoring.profile import ReferenceProfile
from mmp.monitoring.run import MonitorJob, run_monitor
from mmp.monitoring.sketch import ColumnBins, count, level_text
from tests.monitoring import synthetic

EDGES = (-1.5, -0.25, 0.0, 0.75, 2.0)


def plain_numeric(bins: ColumnBins, values: list[float | None]) -> tuple[list[int], int, int, float, float]:
    present = [v for v in values if v is not None and not math.isnan(v)]
    counts = [0] * bins.size
    for v in present:
        counts[sum(v > e for e in bins.edges)] += 1
    outside = sum(not (bins.low <= v <= bins.high) for v in present) if bins.low is not None else 0
    return counts, len(values) - len(present), outside, min(present, default=math.inf), sum(present)


numbers = st.one_of(st.none(), st.just(math.nan), st.sampled_from(EDGES), st.floats(-5, 5, allow_nan=False))


@settings(max_examples=60, deadline=None)
@given(st.lists(numbers, max_size=60), st.booleans())
def test_numeric_counts_match_a_plain_count(values: list[float | None], chunked: bool) -> None:
    bins = ColumnBins("numeric", EDGES, low=-3.0, high=3.0)
    array: Any = pa.array(values, pa.float64())
    if chunked and len(values) > 2:
        array = pa.chunked_array([array.slice(0, 2), array.slice(2)])
    got = count(bins, array)
    counts, missing, outside, low, total = plain_numeric(bins, values)
    assert (got.counts, got.missing, got.outside, got.rows) == (counts, missing, outside, len(values))
    assert got.low == low and math.isclose(got.total, total, abs_tol=1e-9)


LEVELS = ("a", "b", "c")
KNOWN = frozenset({"a", "b", "c", "d"})


def plain_levels(values: list[Any]) -> tuple[list[int], int, int, dict[str, int]]:
    counts, unseen = [0] * (len(LEVELS) + 1), {}
    for v in values:
        if v is None:
            continue
        text = level_text(v)
        counts[LEVELS.index(text) if text in LEVELS else len(LEVELS)] += 1
        if text not in KNOWN:
            unseen[text] = unseen.get(text, 0) + 1
    return counts, sum(v is None for v in values), sum(unseen.values()), unseen


@settings(max_examples=60, deadline=None)
@given(st.lists(st.sampled_from(["a", "b", "c", "d", "e", "f", None]), max_size=60), st.booleans())
def test_text_counts_match_plain_or_dictionary_encoded(values: list[str | None], dictionary: bool) -> None:
    bins = ColumnBins("categorical", levels=LEVELS, known=KNOWN)
    array = pa.array(values, pa.string())
    got = count(bins, array.dictionary_encode() if dictionary else array)
    counts, missing, outside, unseen = plain_levels(values)
    assert (got.counts, got.missing, got.outside, got.unseen) == (counts, missing, outside, unseen)


@pytest.mark.parametrize(
    ("values", "kind"),
    [
        ([0, 1, 1, None, 2, -3, 70_000], pa.int64()),  # wide range: hashed
        ([0, 1, 1, None, 2, -3], pa.int8()),  # narrow range with negatives: bincount
        ([1.0, 2.0, None, 2.5], pa.float64()),
        ([True, False, None, True], pa.bool_()),
    ],
)
def test_non_text_levels_count_as_their_text(values: list[Any], kind: pa.DataType) -> None:
    texts = {level_text(v) for v in values if v is not None}
    levels = tuple(sorted(texts))[:3]
    bins = ColumnBins("categorical", levels=levels, known=frozenset(levels))
    got = count(bins, pa.array(values, kind))
    expected = [sum(1 for v in values if v is not None and level_text(v) == lv) for lv in levels]
    assert got.counts[:-1] == expected
    assert got.counts[-1] == got.outside == len(values) - values.count(None) - sum(expected)


def test_numpy_values_count_like_arrow() -> None:
    values = np.array([0.1, np.nan, -2.0, 5.0])
    bins = ColumnBins("numeric", EDGES, low=-1.0, high=1.0)
    assert count(bins, values) == count(bins, pa.array(values, from_pandas=True))


def test_threads_row_groups_and_layouts_give_the_one_document(
    reference: tuple[ReferenceProfile, Path], shifted_log: Path, tmp_path: Path
) -> None:
    """Row groups summarised by several threads, a CSV copy (no dictionaries, no row groups) and a
    single thread all give the same document, so timing and file layout never change a score."""
    import pyarrow.parquet as pq

    table = pq.read_table(shifted_log)
    parts = tmp_path / "parts"
    parts.mkdir()
    for i, start in enumerate(range(0, table.num_rows, 11_000)):  # windows cut across files and groups
        pq.write_table(table.slice(start, 11_000), parts / f"p{i}.parquet", row_group_size=1_500)
    table.to_pandas().to_csv(tmp_path / "log.csv", index=False)

    def document(data: Path, workers: int) -> dict[str, Any]:
        job = MonitorJob(
            data=str(data),
            reference_profile=str(reference[1]),
            window="1d",
            workers=workers,
            batch_rows=3_000,
        )
        doc = run_monitor(job).document
        doc.pop("generated_at")
        doc.pop("data")
        return doc

    one = document(shifted_log, 1)
    assert one["status"] == "alert" and len(one["windows"]) == 30
    synthetic.assert_same_document(one, document(parts, 3))
    synthetic.assert_same_document(one, document(tmp_path / "log.csv", 2))
