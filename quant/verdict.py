"""The pair's one overall verdict: cointegrated / not cointegrated / not enough data, with reasons and warnings.

Why: a trader must read one conclusion first, and no number beside it may contradict it; the verdict rests on the
Engle–Granger test of the prices (the one test whose size is controlled), the other numbers qualify it.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field

from quant.results import PairSeries, PairTests, StabilityResult
from quant.vocabulary import LOW_R_SQUARED, SIGNIFICANCE, PairTest


class Verdict(enum.StrEnum):
    """The overall reading of a pair."""

    COINTEGRATED = "cointegrated"
    NOT_COINTEGRATED = "not_cointegrated"
    NOT_ENOUGH_DATA = "not_enough_data"

    @property
    def label(self) -> str:
        return {
            "cointegrated": "Cointegrated",
            "not_cointegrated": "Not cointegrated",
            "not_enough_data": "Not enough data",
        }[self.value]


@dataclass(frozen=True)
class PairVerdict:
    """The verdict, a one-line headline with its evidence, the reasons behind it and warnings that qualify it."""

    verdict: Verdict
    headline: str
    reasons: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)


def fmt_p(p: float) -> str:
    """A p-value as a trader reads it: 'p < 0.001' below that, else three decimals."""
    return "p < 0.001" if p < 0.001 else f"p {p:.3f}"


def fmt_bars(bars: float) -> str:
    """A number of bars: one decimal below 10 ('1.4 bars'), whole bars above ('42 bars')."""
    return f"{bars:.1f} bars" if bars < 10 else f"{bars:,.0f} bars"


def stability_text(stab: StabilityResult) -> str:
    """β over the window's parts in words ('β over the window's thirds 0.04 / 0.041 / 0.039 (5% apart)')."""
    betas = " / ".join(f"{b:.4g}" for b in stab.betas)
    return f"β over the window's thirds {betas} ({stab.relative_range:.0%} apart)"


def _warnings(series: PairSeries, tests: PairTests) -> list[str]:
    """What should make a trader wary even of a significant test: a weak fit, an implausible β, an unstable β,
    a half-life too long for the window, tests that disagree."""
    out: list[str] = []
    eg = tests.engle_granger
    if eg is None:
        return out
    if eg.r_squared < LOW_R_SQUARED:
        out.append(
            f"low R² {eg.r_squared:.2f}: the legs share little of their variance, so the spread is "
            "mostly one leg's own moves"
        )
    beta = eg.beta
    value_ratio = beta * float(series.x.mean()) / float(series.y.mean())
    if beta <= 0:
        out.append(f"β = {beta:.4g} is negative: the hedge would buy (or sell) both legs together")
    elif not 0.1 <= value_ratio <= 10:
        out.append(
            f"implausible β = {beta:.4g}: it hedges 1 unit of {series.y_symbol} (worth "
            f"{float(series.y.mean()):,.4g}) with {value_ratio:.3g} times that value of {series.x_symbol}"
        )
    stab = tests.stability
    if stab is not None and not stab.is_stable:
        out.append(f"unstable hedge: {stability_text(stab)}")
    hl = tests.half_life
    if hl is not None and hl.mean_reverts and hl.bars > series.n_bars / 4:
        out.append(
            f"half-life {fmt_bars(hl.bars)} is long for a {series.n_bars:,}-bar window: few round trips to trade"
        )
    jo = tests.johansen
    if jo is not None and jo.n_series == 2 and (jo.rank == 1) != eg.is_cointegrated:
        out.append(
            f"Johansen finds {jo.rank} relation(s) while Engle–Granger "
            f"{'does' if eg.is_cointegrated else 'does not'} reject: the evidence is mixed"
        )
    return out


def not_enough_data(why: str) -> PairVerdict:
    """The verdict while the window cannot support the tests yet (why: what is missing, e.g. how many bars)."""
    return PairVerdict(Verdict.NOT_ENOUGH_DATA, f"Not enough data: {why}", [why])


def pair_verdict(series: PairSeries, tests: PairTests) -> PairVerdict:
    """The overall verdict of a pair from its tests (see the module docstring for the rule)."""
    eg = tests.engle_granger
    if eg is None:
        return not_enough_data(tests.problems.get(PairTest.ENGLE_GRANGER, "the Engle–Granger test did not run"))
    evidence = f"Engle–Granger {fmt_p(eg.pvalue)} on {eg.nobs:,} bars"
    reasons = [
        f"Engle–Granger t = {eg.statistic:.2f} (lag {eg.lags}) against a 5 % critical value of "
        f"{eg.critical_values.five_pct:.2f}"
    ]
    hl = tests.half_life
    if hl is not None:
        reasons.append(
            f"static residual half-life {fmt_bars(hl.bars)}"
            if hl.mean_reverts
            else "the static residual shows no mean reversion (AR(1) coefficient ≥ 1)"
        )
    stab = tests.stability
    if stab is not None:
        reasons.append(stability_text(stab))
    warnings = _warnings(series, tests)
    if eg.pvalue < SIGNIFICANCE and hl is not None and hl.mean_reverts:
        extra = f", half-life {fmt_bars(hl.bars)}" + (
            ", β stable over the window's thirds" if stab is not None and stab.is_stable else ""
        )
        return PairVerdict(Verdict.COINTEGRATED, f"Cointegrated ({evidence}{extra})", reasons, warnings)
    return PairVerdict(
        Verdict.NOT_COINTEGRATED,
        f"Not cointegrated ({evidence}: no evidence of a stable long-run relation at 5 %)",
        reasons,
        warnings,
    )
