"""The promotion decision: a pure function of two evaluations and a policy, nothing else.

No I/O, no clock, no registry: given the champion's and the challenger's evaluations on the same
rows (paired bootstrap replicates) and a `PromotionPolicy`, say whether the challenger may take
the alias and why, rule by rule. `mmp promote`, `mmp retrain` and tests all call this one function.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any

from mmp.core.errors import MmpError
from mmp.recipe.promotion import PromotionPolicy, greater_is_better

if TYPE_CHECKING:
    from mmp.lifecycle.evaluate import Evaluation


@dataclass(frozen=True)
class RuleResult:
    """One rule of the policy: did it hold, and the numbers it was judged on."""

    rule: str
    passed: bool
    detail: str
    value: float | None = None
    bar: float | None = None


@dataclass(frozen=True)
class Gain:
    """Challenger minus champion, signed so that positive is better, with its paired interval."""

    metric: str
    champion: float
    challenger: float
    gain: float
    low: float
    high: float
    relative_low: float | None


@dataclass
class Decision:
    """Promote or not, the deciding metric, the gain and every rule's result."""

    promote: bool
    metric: str
    rules: list[RuleResult]
    gains: dict[str, Gain] = field(default_factory=dict)
    has_champion: bool = True

    @property
    def failed(self) -> list[RuleResult]:
        return [r for r in self.rules if not r.passed]

    @property
    def summary(self) -> str:
        if self.promote:
            return "promote: every rule holds"
        return "not promoted: " + "; ".join(f"{r.rule}: {r.detail}" for r in self.failed)

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "summary": self.summary}


def _quantile(values: list[float], q: float) -> float:
    import math

    ordered = sorted(v for v in values if math.isfinite(v))
    if not ordered:
        return float("nan")
    position = q * (len(ordered) - 1)
    low = math.floor(position)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


def paired_gain(champion: Evaluation, challenger: Evaluation, metric: str, confidence: float) -> Gain:
    """The gain on `metric` with a paired bootstrap interval (both scored with the same weights)."""
    sign = 1.0 if greater_is_better(metric) else -1.0
    a, b = champion.replicates[metric], challenger.replicates[metric]
    diffs = [sign * (y - x) for x, y in zip(a, b, strict=True)]
    relative = [d / abs(x) for d, x in zip(diffs, a, strict=True) if x != 0]
    alpha = (1 - confidence) / 2
    base, new = champion.metrics[metric].value, challenger.metrics[metric].value
    return Gain(
        metric=metric,
        champion=base,
        challenger=new,
        gain=sign * (new - base),
        low=_quantile(diffs, alpha),
        high=_quantile(diffs, 1 - alpha),
        relative_low=_quantile(relative, alpha) if relative else None,
    )


def decide(
    champion: Evaluation | None, challenger: Evaluation, policy: PromotionPolicy, metric: str
) -> Decision:
    """Apply every rule of `policy` (deciding `metric`, canonical) to the two evaluations."""
    import math

    if metric not in challenger.metrics:
        raise MmpError(f"the evaluation has no '{metric}': evaluate with the policy's metric")
    rules: list[RuleResult] = []
    higher = greater_is_better(metric)
    value = challenger.metrics[metric].value
    if policy.floor is not None:
        ok = math.isfinite(value) and (value >= policy.floor if higher else value <= policy.floor)
        word = "at least" if higher else "at most"
        rules.append(
            RuleResult(
                "floor", ok, f"{metric} {value:.4g}, needs {word} {policy.floor:g}", value, policy.floor
            )
        )
    if champion is None:
        if not rules:
            rules.append(RuleResult("floor", True, "no current version and no floor: nothing to beat"))
        return Decision(all(r.passed for r in rules), metric, rules, has_champion=False)
    if champion.pairing != challenger.pairing:
        raise MmpError(
            "the two evaluations were not made on the same rows with the same bootstrap weights",
            "evaluate both models in one call (mmp promote does)",
        )
    gains = {metric: paired_gain(champion, challenger, metric, policy.confidence)}
    gain = gains[metric]
    level = f"{policy.confidence:.0%}"
    bar = policy.min_absolute_gain
    ok = gain.low >= bar and gain.low > 0
    rules.append(
        RuleResult(
            "gain",
            ok,
            f"{metric} gain {gain.gain:+.4g}, {level} interval [{gain.low:+.4g}, {gain.high:+.4g}]; "
            f"its lower bound must be above {bar:g}" + ("" if bar else " (better with confidence)"),
            gain.low,
            bar,
        )
    )
    if policy.min_relative_gain is not None:
        rel = gain.relative_low
        ok = rel is not None and rel >= policy.min_relative_gain
        shown = "n/a" if rel is None else f"{rel:+.2%}"
        rules.append(
            RuleResult(
                "relative_gain",
                ok,
                f"lower bound of the relative gain {shown}, needs {policy.min_relative_gain:.2%}",
                rel,
                policy.min_relative_gain,
            )
        )
    for guard in policy.guardrails:
        if guard.metric not in challenger.metrics or guard.metric not in champion.metrics:
            raise MmpError(f"the evaluation has no guardrail metric '{guard.metric}'")
        g = paired_gain(champion, challenger, guard.metric, policy.confidence)
        gains[guard.metric] = g
        worse = -g.gain
        rules.append(
            RuleResult(
                f"guardrail {guard.metric}",
                worse <= guard.max_worsening,
                f"{guard.metric} {g.champion:.4g} -> {g.challenger:.4g} "
                f"({'worse' if worse > 0 else 'not worse'}; allowed worsening {guard.max_worsening:g})",
                worse,
                guard.max_worsening,
            )
        )
    if policy.segments is not None and challenger.segments:
        rules.append(_segments(champion, challenger, policy, metric))
    return Decision(all(r.passed for r in rules), metric, rules, gains)


def _segments(
    champion: Evaluation, challenger: Evaluation, policy: PromotionPolicy, metric: str
) -> RuleResult:
    from mmp.lifecycle.evaluate import OTHER

    assert policy.segments is not None
    sign = 1.0 if greater_is_better(metric) else -1.0
    before = {s.value: s for s in champion.segments}
    worst: tuple[float, str] | None = None
    judged = 0
    for seg in challenger.segments:
        old = before.get(seg.value)
        if seg.value == OTHER or old is None or seg.rows < policy.segments.min_rows:
            continue
        judged += 1
        worse = -sign * (seg.metrics[metric] - old.metrics[metric])
        if worst is None or worse > worst[0]:
            worst = (worse, seg.value)
    allowed = policy.segments.max_worsening
    if worst is None:
        return RuleResult("segments", True, "no segment has enough rows to judge")
    ok = worst[0] <= allowed
    by = challenger.segment_by or "segment"
    return RuleResult(
        "segments",
        ok,
        f"worst of {judged} segments: {by}={worst[1]} {metric} worse by {worst[0]:.4g} (allowed {allowed:g})"
        if worst[0] > 0
        else f"no segment of {judged} got worse",
        worst[0],
        allowed,
    )
