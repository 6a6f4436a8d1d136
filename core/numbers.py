"""Numbers as people read them: significant digits in plain notation with thousands separators (12,150 and
0.00001230, never 1.215e+04), shared by the dashboard's tiles and the charts' labels."""

from __future__ import annotations

import math


def significant(value: float, digits: int = 4) -> str:
    """`value` to `digits` significant digits in plain notation with thousands separators; '—' when missing or not
    finite."""
    if value is None or not math.isfinite(value):
        return "—"
    decimals = max(0, digits - 1 - math.floor(math.log10(abs(value)))) if value else 0
    return f"{round(value, decimals):,.{decimals}f}"
