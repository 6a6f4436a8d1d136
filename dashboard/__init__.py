"""The Streamlit dashboard behind app.py: a Streamlit-free model and actions, shared widgets, the sidebar and one module
per tab."""
