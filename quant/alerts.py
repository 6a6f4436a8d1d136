"""Alert rules: evaluate a metric value against a threshold or a threshold crossing.

Why: alerts are a pure predicate the app evaluates on live values, separate from the analytics pipeline.
"""

from __future__ import annotations

import math

from quant.validation import check_choice
from quant.vocabulary import ALERT_OPS, AlertOp

# ----------------------------------------------------------------------------------------------------------------
# Alerts
# ----------------------------------------------------------------------------------------------------------------


def evaluate_alert(rule_metric_value: float, op: str, threshold: float, previous: float | None = None) -> bool:
    """Pure alert rule: value `op` threshold (an :class:`AlertOp` or its value); crosses_* need the previous value
    (False without one).

    A NaN value (e.g. a z-score in warm-up) never fires.
    """
    rule = AlertOp(check_choice(op, "alert op", ALERT_OPS))
    if not math.isfinite(threshold):
        raise ValueError(f"threshold must be finite, got {threshold}")
    value = float(rule_metric_value)
    if math.isnan(value):
        return False
    if rule is AlertOp.GT:
        return value > threshold
    if rule is AlertOp.GE:
        return value >= threshold
    if rule is AlertOp.LT:
        return value < threshold
    if rule is AlertOp.LE:
        return value <= threshold
    if previous is None or math.isnan(previous):
        return False
    if rule is AlertOp.CROSSES_ABOVE:
        return previous <= threshold < value
    return previous >= threshold > value
