"""The feed layer, one job per module (``data_feed`` re-exports the public names; import from either).

records (value types, constants) -> errors -> values (field validators, JSON decoder) -> frames (WebSocket frame
decoding) -> files (tick/bar files) -> recorder -> base (``DataFeed``) -> ws_link (connections) -> binance_ws (live
feed), offline (simulated + replay feeds), rest and archive (clients). Modules import only each other, ``core.*``,
the standard library and websocket-client (orjson when installed); no two import each other.
"""
