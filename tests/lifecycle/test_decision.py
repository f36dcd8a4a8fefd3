"""The promotion decision is a pure function: evaluations + policy in, verdict and reasons out."""

from __future__ import annotations

import numpy as np
import pytest

from mmp.core.errors import MmpError
from mmp.lifecycle.decision import decide
from mmp.lifecycle.evaluate import Evaluation, MetricValue, Segment
from mmp.recipe.promotion import Guardrail, PromotionPolicy, SegmentRule

B = 400


def _evaluation(
    replicates: dict[str, np.ndarray], segments: list[Segment] | None = None, pairing: str = "same-rows"
) -> Evaluation:
    metrics = {
        m: MetricValue(float(np.mean(r)), float(np.quantile(r, 0.025)), float(np.quantile(r, 0.975)))
        for m, r in replicates.items()
    }
    return Evaluation(
        model={"name": "m"},
        task="classification",
        metrics=metrics,
        segments=segments or [],
        segment_by="region" if segments else None,
        confidence=0.95,
        bootstrap_samples=B,
        pairing=pairing,
        replicates={m: list(map(float, r)) for m, r in replicates.items()},
    )


def _pair(gain: float, noise: float, seed: int = 0, log_loss_change: float = 0.0):
    rng = np.random.default_rng(seed)
    base = 0.80 + rng.normal(0, 0.01, B)
    ll = 0.40 + rng.normal(0, 0.01, B)
    champion = _evaluation({"accuracy": base, "log_loss": ll})
    challenger = _evaluation(
        {"accuracy": base + gain + rng.normal(0, noise, B), "log_loss": ll + log_loss_change}
    )
    return champion, challenger


def test_a_clear_paired_gain_promotes() -> None:
    champion, challenger = _pair(gain=0.02, noise=0.002)
    decision = decide(champion, challenger, PromotionPolicy(), "accuracy")
    assert decision.promote, decision.summary
    assert decision.gains["accuracy"].low > 0


def test_better_on_average_but_interval_includes_worse_is_not_promoted() -> None:
    champion, challenger = _pair(gain=0.004, noise=0.02)
    decision = decide(champion, challenger, PromotionPolicy(), "accuracy")
    gain = decision.gains["accuracy"]
    assert gain.gain > 0 and gain.low < 0
    assert not decision.promote
    assert [r.rule for r in decision.failed] == ["gain"]


def test_the_pairing_is_what_makes_a_small_gain_significant() -> None:
    # Each model's own interval is wide (+-0.02) yet the gain is steady on the same rows.
    champion, challenger = _pair(gain=0.005, noise=0.0005)
    assert challenger.metrics["accuracy"].low < champion.metrics["accuracy"].high
    assert decide(champion, challenger, PromotionPolicy(), "accuracy").promote


def test_minimum_absolute_and_relative_gains() -> None:
    champion, challenger = _pair(gain=0.01, noise=0.001)
    assert decide(champion, challenger, PromotionPolicy(min_absolute_gain=0.005), "accuracy").promote
    refused = decide(champion, challenger, PromotionPolicy(min_absolute_gain=0.02), "accuracy")
    assert [r.rule for r in refused.failed] == ["gain"]
    relative = decide(champion, challenger, PromotionPolicy(min_relative_gain=0.05), "accuracy")
    assert [r.rule for r in relative.failed] == ["relative_gain"]


def test_lower_is_better_metrics_are_signed() -> None:
    champion, challenger = _pair(gain=0.0, noise=0.0, log_loss_change=-0.05)
    decision = decide(champion, challenger, PromotionPolicy(), "log_loss")
    assert decision.promote
    assert decision.gains["log_loss"].gain == pytest.approx(0.05)


def test_a_guardrail_blocks() -> None:
    champion, challenger = _pair(gain=0.02, noise=0.001, log_loss_change=0.03)
    policy = PromotionPolicy(guardrails=[Guardrail(metric="logloss", max_worsening=0.01)])
    decision = decide(champion, challenger, policy, "accuracy")
    assert not decision.promote
    assert [r.rule for r in decision.failed] == ["guardrail log_loss"]
    lenient = PromotionPolicy(guardrails=[Guardrail(metric="log_loss", max_worsening=0.05)])
    assert decide(champion, challenger, lenient, "accuracy").promote


def test_a_segment_regression_blocks_and_small_segments_do_not() -> None:
    champion, challenger = _pair(gain=0.02, noise=0.001)
    champion.segments = [
        Segment("north", 500, {"accuracy": 0.85}),
        Segment("south", 500, {"accuracy": 0.80}),
        Segment("tiny", 20, {"accuracy": 0.90}),
        Segment("other", 40, {"accuracy": 0.90}),
    ]
    challenger.segment_by = "region"
    challenger.segments = [
        Segment("north", 500, {"accuracy": 0.90}),
        Segment("south", 500, {"accuracy": 0.74}),
        Segment("tiny", 20, {"accuracy": 0.10}),
        Segment("other", 40, {"accuracy": 0.10}),
    ]
    policy = PromotionPolicy(segments=SegmentRule(min_rows=100, max_worsening=0.05))
    decision = decide(champion, challenger, policy, "accuracy")
    assert not decision.promote
    (failed,) = decision.failed
    assert failed.rule == "segments" and "region=south" in failed.detail
    challenger.segments[1] = Segment("south", 500, {"accuracy": 0.78})
    assert decide(champion, challenger, policy, "accuracy").promote


def test_no_champion_the_floor_alone_decides() -> None:
    _, challenger = _pair(gain=0.0, noise=0.0)
    assert decide(None, challenger, PromotionPolicy(floor=0.7), "accuracy").promote
    below = decide(None, challenger, PromotionPolicy(floor=0.9), "accuracy")
    assert not below.promote and below.failed[0].rule == "floor"
    assert decide(None, challenger, PromotionPolicy(), "accuracy").promote
    assert not decide(None, challenger, PromotionPolicy(floor=0.3), "log_loss").promote  # at most 0.3


def test_evaluations_on_different_rows_are_refused() -> None:
    champion, challenger = _pair(gain=0.02, noise=0.001)
    challenger.pairing = "other-rows"
    with pytest.raises(MmpError, match="same rows"):
        decide(champion, challenger, PromotionPolicy(), "accuracy")


def test_the_policy_is_strict() -> None:
    from pydantic import ValidationError

    with pytest.raises(ValidationError, match="cannot be used for promotion"):
        PromotionPolicy(metric="median_ae")
    with pytest.raises(ValidationError):
        PromotionPolicy.model_validate({"metric": "auc", "flor": 0.8})
    assert PromotionPolicy(metric="auc").metric == "roc_auc"


def test_the_recipe_checks_the_policy_fits_the_task() -> None:
    from mmp.recipe.models import Recipe

    base = {
        "name": "r",
        "task": "regression",
        "model": {"class_path": "sklearn.linear_model.Ridge"},
        "data": {"data_interface": {"target_column": "y"}},
    }
    assert Recipe.model_validate(base).promotion.metric is None
    with pytest.raises(ValueError, match=r"promotion\.metric: 'accuracy' does not fit a regression task"):
        Recipe.model_validate({**base, "promotion": {"metric": "accuracy"}})
