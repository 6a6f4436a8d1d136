"""Quant: the analytics layer's implementation, one job per module; analytics.py is its facade."""
