"""The platform's storage behind database.py: all SQL, one module per table group.

sql (connection type, errors, transactions), schema (migrations, clearing), connection (opening databases),
ticks (tick writes and reads), rollups (1s/1min bars from ticks), bars (ohlc_data), gaps (repair and backfill
bookkeeping), alerts (rules and events), paper (paper positions), csv_export (streaming CSV out).
"""
