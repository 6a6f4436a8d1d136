"""Chart builders behind visualizations.py, one job per module (import the facade, not these, from the app).

theme (colours, template, symbol names), downsample (bounded payloads), common (shared figure helpers),
prices, pair, backtest, quality (the builders) and seed_api (the Streamlit seed's create_* names).
"""
