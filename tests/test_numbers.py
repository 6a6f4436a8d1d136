"""The one number-formatting layer (core/numbers.py): what tiles, hovers, tables and CSVs write."""

from __future__ import annotations

import math

from core import numbers as N


def test_prices_and_counts_have_separators_and_no_si_suffix() -> None:
    assert N.significant(75_037.6, 6) == "75,037.6" and N.significant(0.0000123, 4) == "0.00001230"
    assert N.count(3_876) == "3,876" and N.count(math.nan) == "—"


def test_durations_take_their_natural_unit() -> None:
    assert [N.duration(s) for s in (45, 1_212, 820, 3 * 3600 + 1800, 2.1 * 86400)] == [
        "45 s",
        "20 min",
        "14 min",
        "3.5 h",
        "2.1 d",
    ]


def test_percent_usdt_and_p_values() -> None:
    assert N.percent(-5.034) == "-5.03%" and N.percent(1.5, signed=True) == "+1.50%"
    assert N.usdt(-507.123) == "-507.12 USDT" and N.usdt(1_590.5, signed=False) == "1,590.50 USDT"
    assert N.pvalue(0.0) == "< 1e-16" and N.pvalue(3e-20) == "< 1e-16" and N.pvalue(0.01234) == "0.01234"
    assert N.pvalue(math.nan) == "—"


def test_headers_are_human() -> None:
    assert [N.header(c) for c in ("average_price", "exit_reason", "pct_return", "fired_at")] == [
        "average price",
        "exit reason",
        "return (%)",
        "fired at (UTC)",
    ]
