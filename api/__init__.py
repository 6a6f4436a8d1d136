"""HTTP/WebSocket API served by the dashboard's own server (st.App routes): the FastAPI seed's contract
(../shared/api/SEED_API.md) computed by the same database/analytics code as the tabs."""
