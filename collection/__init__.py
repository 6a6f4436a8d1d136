"""Background collection behind collector.py: feed → bounded queue → batching writer → database, gap repair, backfill.

records (typed messages and status), queue (the socket → writer hand-off), pipeline (state the threads share),
rest_history (what Binance REST still serves), writer (the one write connection), repair (gaps and catch-ups),
backfill (history on start), retention_pass (retention passes, each in a process of its own), collector (lifecycle
and stats), isolated (the dashboard's collector in a process of its own), service (one collector per process), cli
(headless).
"""
