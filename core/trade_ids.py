"""Which next trade id is believable: within one (symbol, id space) ids grow, and no faster than a market trades.
An id far beyond that (another numbering, a corrupt frame, a bad upload) is quarantined, never made the cursor."""

from __future__ import annotations

ID_RATE_MAX_PER_S = 10_000  # far above any USD-M symbol's busiest second (BTCUSDT: a few thousand aggTrades/s)
ID_SLACK_S = 48 * 3600  # plus Binance's 48 h REST window, so a hole REST can still fill is never mistaken


def implausible_jump(last_id: int, last_ts: int | None, trade_id: int, ts: int) -> bool:
    """True when trade_id lies beyond what could have traded since (last_id, last_ts) at ID_RATE_MAX_PER_S."""
    elapsed_s = max(0, ts - last_ts) / 1000 if last_ts is not None else 0.0
    return trade_id - last_id > (elapsed_s + ID_SLACK_S) * ID_RATE_MAX_PER_S
