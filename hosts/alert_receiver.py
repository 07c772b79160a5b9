"""The alert receiver on every monitor host: the webhook its Alertmanager delivers to, recording
every notification (the program is hosts/alertreceiver/recorder.py).

    monitor                                   monitor2
      Alertmanager ──▶ 127.0.0.1:9095           Alertmanager ──▶ 127.0.0.1:9095
                        recorder (monitor)                        recorder (monitor2)
                              └──────────▶ <run>/logs/alerts-received.jsonl ◀──────────┘
                                           one JSON line per alert per notification

Each host has its own network namespace, so 127.0.0.1 is that host's own recorder: every
Alertmanager's configuration is the same text, and together the recorders are "the receiver".
They share one file (one filesystem): an alert the pair delivered once is one line in it,
whichever Alertmanager sent it; a duplicate is two. Read it with deliveries() and
count_deliveries() (hosts/alertreceiver/records.py).
"""

from __future__ import annotations

import sys
from pathlib import Path

from hosts.alertreceiver.records import count_deliveries, deliveries
from hosts.alertreceiver.recorder import READY_PATH, WEBHOOK_PATH
from hosts.app import REPO_ROOT
from hosts.daemon import Daemon
from hosts.prometheus import http_get
from hosts.site import Site

__all__ = ["AlertReceiver", "count_deliveries", "deliveries", "journal_path", "webhook_url"]


def journal_path(site: Site) -> Path:
    """The file every recorder of the run appends to."""
    return site.run_path / "logs" / "alerts-received.jsonl"


def webhook_url(site: Site) -> str:
    """Where an Alertmanager delivers: its own host's recorder (the same text on every host)."""
    return f"http://127.0.0.1:{site.services.ports.alert_receiver}{WEBHOOK_PATH}"


class AlertReceiver(Daemon):
    name = "alert_receiver"
    binary = sys.executable
    package = "python3"
    stage = 2  # with the Alertmanagers, well before Prometheus (stage 6) raises anything

    @property
    def port(self) -> int:
        """The port it listens on (spof/facts.py finds the daemon behind a webhook URL by it)."""
        return self.site.services.ports.alert_receiver

    @property
    def journal(self) -> Path:
        return journal_path(self.site)

    def command(self) -> list[str]:
        # env execs the interpreter (same pid) with the repository importable.
        return ["env", f"PYTHONPATH={REPO_ROOT}", sys.executable, "-m", "hosts.alertreceiver.recorder",
                "--host", self.host, "--address", "127.0.0.1", "--port", str(self.port),
                "--journal", str(self.journal)]

    def prepare(self, node) -> None:
        self.journal.parent.mkdir(parents=True, exist_ok=True)

    def is_ready(self, node) -> bool:
        code, _ = http_get(node, f"http://127.0.0.1:{self.port}{READY_PATH}", timeout=1.0)
        return code == 200

    def received(self) -> list[dict]:
        """The deliveries this host's recorder wrote."""
        return [r for r in deliveries(self.journal) if r["recorder"] == self.host]

    def status(self, node) -> str:
        if not self.is_ready(node):
            return f"127.0.0.1:{self.port} not answering"
        records = self.received()
        firing = sum(r["status"] == "firing" for r in records)
        return f"127.0.0.1:{self.port} answering: {firing} firing, {len(records) - firing} resolved recorded"
