"""The sidebar's collector status without Streamlit: per-symbol liveness for a pair and for a universe."""

from __future__ import annotations


def test_liveness_lists_ages_for_a_pair_and_summarises_a_universe() -> None:
    from types import SimpleNamespace

    from dashboard.sidebar import liveness

    now = 1_000_000
    pair = SimpleNamespace(symbols=("BTCUSDT", "ETHUSDT"), last_receive_ms={"BTCUSDT": now - 100})
    assert liveness(pair, now) == "Last tick age: BTCUSDT 0.1 s · ETHUSDT —"  # type: ignore[arg-type]
    symbols = tuple(f"S{k:03d}USDT" for k in range(300))
    ages = {s: now - (120_000 if k % 100 == 0 else 1_000) for k, s in enumerate(symbols)}
    text = liveness(SimpleNamespace(symbols=symbols, last_receive_ms=ages), now)  # type: ignore[arg-type]
    assert text == "297 of 300 symbols traded in the last 60 s; quiet: S000USDT, S100USDT, S200USDT"
