"""A Plotly chart that updates in place: an `st.components.v2` component that keeps one Plotly graph div per key
and calls `Plotly.react` on it with each new figure, so zoom/pan survive refreshes and the chart never blanks.

Why not `st.plotly_chart`: Streamlit derives a plotly chart's element id from its key AND its figure JSON, so every
refresh that brings new data creates a new element; the frontend mounts a new graph (the old one disappears for a
moment, a drag in progress is cut off, and `uirevision` has no previous graph to carry the zoom from). A component's
identity is its key alone, and its JavaScript is called again with the new data on the same DOM element.

The page loads plotly.js once, from the copy inside the installed `plotly` package (served by app.py at
`PLOTLY_JS_PATH`, so no network access). The script coalesces updates to one per animation frame and skips a figure
identical to the one drawn. It applies none while the user is dragging on the chart (the newest one is applied when
the drag ends), none while the browser tab is hidden, and, once a chart has been drawn, none while it is scrolled
out of view (an IntersectionObserver applies the newest one as soon as it scrolls into view):
a tab's cost in the browser follows the charts a user sees, not the charts the tab holds (issue 25).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import plotly
import plotly.graph_objects as go
import streamlit as st
from starlette.requests import Request
from starlette.responses import FileResponse
from starlette.routing import Route

PLOTLY_JS_PATH = "/assets/plotly.min.js"
PLOTLY_JS_FILE = Path(plotly.__file__).resolve().parent / "package_data" / "plotly.min.js"

JS = """
const PLOTLY_URL = "__PLOTLY_URL__";

function loadPlotly() {
  if (window.Plotly) return Promise.resolve(window.Plotly);
  if (!window.__livePlotlyLoading) {
    window.__livePlotlyLoading = new Promise((resolve, reject) => {
      const script = document.createElement("script");
      script.src = PLOTLY_URL;
      script.onload = () => resolve(window.Plotly);
      script.onerror = () => { window.__livePlotlyLoading = null; reject(new Error("cannot load " + PLOTLY_URL)); };
      document.head.appendChild(script);
    });
  }
  return window.__livePlotlyLoading;
}

function flush(holder) {
  const s = holder.__live;
  if (!window.Plotly || s.busy || s.dragging || !s.pending || document.hidden || (s.drawn && !s.visible)) return;
  const next = s.pending;
  s.pending = null;
  if (next.json === s.drawn) return;
  s.busy = true;
  s.drawn = next.json;
  Promise.resolve()
    .then(() => {
      const figure = JSON.parse(next.json);
      return window.Plotly.react(holder, figure.data || [], figure.layout || {}, next.config);
    })
    .catch((err) => console.error("live chart", err))
    .finally(() => { s.busy = false; if (s.pending) schedule(holder); });
}

function schedule(holder) {
  const s = holder.__live;
  if (s.frame) return;
  s.frame = requestAnimationFrame(() => { s.frame = 0; flush(holder); });
}

export default function (component) {
  const { data, parentElement } = component;
  let holder = parentElement.querySelector(":scope > .live-plot");
  if (!holder) {
    holder = document.createElement("div");
    holder.className = "live-plot";
    holder.style.width = "100%";
    parentElement.appendChild(holder);
    holder.__live = { pending: null, busy: false, dragging: false, frame: 0, drawn: null, visible: true };
    const s = holder.__live;
    holder.__seen = new IntersectionObserver((entries) => {
      s.visible = entries[entries.length - 1].isIntersecting;
      if (s.visible) schedule(holder);
    });
    holder.__seen.observe(holder);
    holder.addEventListener("pointerdown", () => { s.dragging = true; }, true);
    const release = () => { if (s.dragging) { s.dragging = false; schedule(holder); } };
    window.addEventListener("pointerup", release, true);
    window.addEventListener("pointercancel", release, true);
    holder.__release = release;
    holder.__shown = () => schedule(holder);
    document.addEventListener("visibilitychange", holder.__shown);
  }
  const height = data.height || 450;
  holder.style.height = height + "px";
  holder.__live.pending = { json: data.figure, config: data.config };
  loadPlotly().then(() => schedule(holder)).catch((err) => {
    holder.textContent = String(err);
  });
  return () => {
    window.removeEventListener("pointerup", holder.__release, true);
    window.removeEventListener("pointercancel", holder.__release, true);
    document.removeEventListener("visibilitychange", holder.__shown);
    holder.__seen.disconnect();
    if (window.Plotly) window.Plotly.purge(holder);
    holder.remove();
  };
}
""".replace("__PLOTLY_URL__", PLOTLY_JS_PATH)

_component = st.components.v2.component("live_plotly_chart", js=JS, isolate_styles=False)


async def _plotly_js(_: Request) -> FileResponse:
    """plotly.min.js from the installed plotly package (cached by the browser for a day)."""
    return FileResponse(
        PLOTLY_JS_FILE, media_type="text/javascript", headers={"Cache-Control": "public, max-age=86400"}
    )


def asset_routes() -> list[Route]:
    """The route app.py serves the live chart's plotly.js under."""
    return [Route(PLOTLY_JS_PATH, _plotly_js, methods=["GET"])]


def live_chart(fig: go.Figure, key: str, config: dict[str, Any]) -> None:
    """Draw `fig` under `key`, updating the chart already on the page in place."""
    _component(
        key=key,
        data={"figure": fig.to_json(), "height": fig.layout.height, "config": {**config, "responsive": True}},
        width="stretch",
        height="content",
    )
