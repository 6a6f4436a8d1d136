"""The Streamlit dashboard behind app.py: shared widgets, the sidebar and one module per tab, standing on service/
(the Streamlit-free window model and actions the API shares)."""
