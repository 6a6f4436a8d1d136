"""The platform's storage behind database.py: all SQL, one module per table group.

sql (the connection protocol, errors, transactions), schema (migrations, clearing), connection (opening databases),
sqlite and postgres (the two backends' connections; timescale, PostgreSQL's hypertable layout),
ticks (tick writes and reads), rollups (1s/1min bars from ticks), bars (ohlc_data), gaps (repair and backfill
bookkeeping), alerts (rules and events), paper (paper positions), csv_export (streaming CSV out).
"""
