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


def test_the_database_size_is_measured_once_per_target_while_it_is_fresh(tmp_path, monkeypatch) -> None:
    """Every status refresh shows the database's size; on PostgreSQL measuring it walks the data directory, so two
    quick refreshes measure it once (per target), and again once it is older than the time to live."""
    import database
    from service import window

    measured: list[str] = []
    real = database.database_size_bytes

    def counted(target: str) -> int:
        measured.append(target)
        return real(target)

    monkeypatch.setattr(database, "database_size_bytes", counted)
    a, b = str(tmp_path / "a.db"), str(tmp_path / "b.db")
    database.ensure_database(a)
    database.ensure_database(b)
    assert window.database_size(a) == window.database_size(a) == real(a) > 0
    assert measured == [a]
    window.database_size(b)
    assert measured == [a, b]
    window.database_size(a, max_age_s=0.0)
    assert measured == [a, b, a]
