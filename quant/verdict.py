"""The pair's one overall verdict: cointegrated / mean reversion stopped / not cointegrated / not enough data, with
reasons and warnings.

Why: a trader must read one conclusion first, and no number beside it may contradict it; the verdict rests on the
Engle–Granger test of the prices (the one test whose size is controlled), the other numbers qualify it. The rule:
Engle–Granger rejecting at 5 % with a mean-reverting static residual is Cointegrated, unless the change-in-
persistence test (also a 5 % test, null "stationary throughout") finds that the mean reversion stopped over the
last third: Engle–Granger on the whole window then rests on the earlier bars, and the verdict is ENDED, said first
in the headline and in the first warning. A cointegration that ended still passes Engle–Granger on a third to a half
of windows (issue 23), so a pair that is tradable now needs both. Where the 5 % test does not fire, the first
warning of a Cointegrated pair is a caution when the same test passes its 20 % level (a rate the warning states), or,
when the last third spans fewer than MIN_RECENT_HALF_LIVES half-lives, a note that the window cannot tell an ending
from a slow reversion. Without Engle–Granger's evidence the test is only a reason line (a pair of random walks has
no mean reversion to lose).
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field

from quant.persistence import CAUTION_LEVEL, MIN_RECENT_HALF_LIVES
from quant.results import HalfLifeResult, PairSeries, PairTests, PersistenceChangeResult, StabilityResult
from quant.vocabulary import LOW_R_SQUARED, SIGNIFICANCE, PairTest


class Verdict(enum.StrEnum):
    """The overall reading of a pair."""

    COINTEGRATED = "cointegrated"
    ENDED = "ended"  # Engle–Granger rejects on the window, but not the last third
    NOT_COINTEGRATED = "not_cointegrated"
    NOT_ENOUGH_DATA = "not_enough_data"

    @property
    def label(self) -> str:
        return {
            "cointegrated": "Cointegrated",
            "ended": "Mean reversion stopped",
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


def fmt_break_p(p: float) -> str:
    """The change-in-persistence p-value, whose table spans 1 %–50 %: 'p ≤ 0.01', 'p ≥ 0.5' at its bounds."""
    return "p ≤ 0.01" if p <= 0.01 else "p ≥ 0.5" if p >= 0.5 else f"p {p:.2f}"


ENDED_TEXT = "mean reversion appears to have stopped in the last third"


def ending_text(change: PersistenceChangeResult) -> str:
    """The change-in-persistence test in words: whether the last third's spread strays further from the first two
    thirds' relation than a spread still reverting as it did could by chance."""
    recent = change.nobs - change.split
    if change.ended:
        return (
            f"{ENDED_TEXT} (its last {recent:,} bars): the spread strays {change.ratio:.1f}× as far from the "
            f"first two thirds' relation as it did during them, beyond the {change.critical_value:.1f}× a "
            f"spread still reverting at their pace reaches by chance at 5 % ({fmt_break_p(change.pvalue)})"
        )
    return (
        f"the last third's spread stays within what the first two thirds' mean reversion allows: "
        f"{change.ratio:.2f}× their deviation, against a 5 % critical value of {change.critical_value:.1f}× "
        f"({fmt_break_p(change.pvalue)})"
    )


CAUTION_TEXT = "caution: the mean reversion may have stopped in the last third"
SHORT_RECENT_TEXT = "the last third is too short to tell whether the mean reversion continued"


def caution_text(change: PersistenceChangeResult) -> str:
    """The change-in-persistence test at its 20 % level in words, with the rate it fires at on spreads that still
    revert (so a trader can weigh it)."""
    recent = change.nobs - change.split
    return (
        f"{CAUTION_TEXT} (its last {recent:,} bars): the spread strays {change.ratio:.2f}× as far from the first two "
        f"thirds' relation as it did during them, beyond the {change.caution_value:.2f}× that "
        f"{100 * CAUTION_LEVEL:.0f} % of spreads still reverting at their pace reach ({fmt_break_p(change.pvalue)}); "
        f"this caution fires on {100 * CAUTION_LEVEL:.0f} % of pairs whose mean reversion did not stop"
    )


def recent_half_lives(change: PersistenceChangeResult, hl: HalfLifeResult) -> float:
    """How many of the window's half-lives the last third spans (0 without mean reversion)."""
    return (change.nobs - change.split) / hl.bars if hl.mean_reverts and hl.bars > 0 else 0.0


def short_recent_text(change: PersistenceChangeResult, hl: HalfLifeResult) -> str:
    """Why the last-third test cannot vouch for a slow spread: too few half-lives in the last third."""
    return (
        f"{SHORT_RECENT_TEXT}: its {change.nobs - change.split:,} bars span {recent_half_lives(change, hl):.0f} "
        f"half-lives, fewer than the {MIN_RECENT_HALF_LIVES:.0f} the last-third test needs to tell a spread that "
        "stopped reverting from a slow one (it misses over half of such endings); shown for every pair this slow, "
        "reverting or not"
    )


def _ending_warning(tests: PairTests) -> str | None:
    """The first warning of a pair Engle–Granger finds cointegrated, about its last third: the mean reversion
    stopped (5 % test), may have stopped (the 20 % caution), or the last third spans too few half-lives to tell."""
    change, hl = tests.persistence_change, tests.half_life
    if change is None:
        return None
    if change.ended:
        return ending_text(change)
    if change.caution:
        return caution_text(change)
    if hl is not None and recent_half_lives(change, hl) < MIN_RECENT_HALF_LIVES:
        return short_recent_text(change, hl)
    return None


def _warnings(series: PairSeries, tests: PairTests) -> list[str]:
    """What should make a trader wary even of a significant test, most serious first: mean reversion that stopped,
    may have stopped, or cannot be checked in the last third (:func:`_ending_warning`; when Engle–Granger rejects:
    without evidence of mean reversion there is none to have stopped, and the test's null, a stationary spread, is
    not the question), a weak fit, an implausible β, an unstable β, a half-life too long for the window, tests that
    disagree."""
    out: list[str] = []
    eg = tests.engle_granger
    if eg is None:
        return out
    ending = _ending_warning(tests)
    if ending is not None and eg.pvalue < SIGNIFICANCE:
        out.append(ending)
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
            else "the static residual shows no mean reversion (median-unbiased AR(1) coefficient ≥ 1)"
        )
    stab = tests.stability
    if stab is not None:
        reasons.append(stability_text(stab))
    change = tests.persistence_change
    if change is not None:
        reasons.append(ending_text(change))
    ended = change is not None and change.ended
    warnings = _warnings(series, tests)
    if eg.pvalue < SIGNIFICANCE and hl is not None and hl.mean_reverts:
        if change is not None and ended:
            return PairVerdict(
                Verdict.ENDED,
                f"Mean reversion appears to have stopped in the last third "
                f"({evidence} rests on the earlier bars: the last third strays {change.ratio:.1f}× "
                f"as far from their relation, {fmt_break_p(change.pvalue)})",
                reasons,
                warnings,
            )
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
