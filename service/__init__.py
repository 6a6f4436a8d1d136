"""What both UIs do, with neither Streamlit nor HTTP: the window model and its cache, the controls, background jobs
(tests, scans, history loads), and the actions (exports, uploads, alerts, paper positions, signed links). The
dashboard (dashboard/) and the API (api/) stand on it side by side."""
