"""The live classroom dashboard (service.py: what runs; server.py: the web side; model.py,
state.py, timeline.py, strip.py, relays.py: what the page shows; static/: the page)."""

from hatestbed.dashboard.service import Dashboard, DashboardError

__all__ = ["Dashboard", "DashboardError"]
