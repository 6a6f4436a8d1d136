"""The Watchlist tab through AppTest (both backends): a pair watched from Pair Analytics shows live in the table, a
two-leg position opens and closes from its row, and its P&L breakdown is shown."""

from __future__ import annotations

from test_app import assert_clean, at, no_collector_left_running, seeded, show  # noqa: F401 — fixtures used by name


def test_watch_from_pair_analytics_then_open_and_close_a_position(at):  # noqa: F811 — the imported fixture
    show(at, "Pair Analytics")
    at.button(key="pair_watch").click().run()
    assert_clean(at)
    show(at, "Watchlist")
    assert_clean(at)
    table = at.dataframe[0].value
    assert len(table) == 1 and table["pair (y / x)"].iloc[0] == "ETHUSDT / BTCUSDT"
    assert table["z"].notna().iloc[0] and table["note"].iloc[0] == ""
    watch_id = int(table["#"].iloc[0])
    at.button(key=f"wl_open_LONG_{watch_id}").click().run()
    assert_clean(at)
    assert any(s.value.startswith("Opened #") for s in at.success)
    positions = at.dataframe[1].value
    assert list(positions["side"]) == ["LONG"] and positions["fees"].iloc[0] < 0
    close = [b for b in at.button if b.key and b.key.startswith("wl_close_")]
    close[0].click().run()
    assert_clean(at)
    assert any(s.value.startswith("Closed #") for s in at.success)
    positions = at.dataframe[1].value
    assert positions["closed"].iloc[0] != "open" and positions["reason"].iloc[0] == "manual"
    parts = ("P&L y leg", "P&L x leg", "fees", "spread cost", "funding y", "funding x")
    net = sum(positions[column] for column in parts)
    assert abs(net.iloc[0] - positions["net P&L"].iloc[0]) < 1e-9
