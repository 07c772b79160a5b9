"""The app's run-time slowdown knob (hosts/webapp/app.py SlowDown) and its effect on GET /."""

import os
import time

from hosts.webapp.app import SlowDown, WebApp


def test_the_delay_file_is_read_when_it_changes(tmp_path):
    path = tmp_path / "delay_ms"
    slow = SlowDown(path)
    assert slow.seconds() == 0.0  # absent: none
    path.write_text("40\n")
    assert slow.seconds() == 0.04
    path.write_text("garbage")
    os.utime(path, ns=(time.time_ns(), time.time_ns() + 1_000_000))
    assert slow.seconds() == 0.0  # unreadable: none, not a crash
    path.unlink()
    assert slow.seconds() == 0.0
    assert SlowDown(None).seconds() == 0.0


def test_only_the_index_is_slowed(tmp_path):
    (tmp_path / "delay_ms").write_text("30")

    class Db:
        def ping(self):
            pass

    app = WebApp("server1", Db(), SlowDown(tmp_path / "delay_ms"))

    def call(path):
        began = time.monotonic()
        status = []
        app({"REQUEST_METHOD": "GET", "PATH_INFO": path}, lambda s, h: status.append(s))
        return status[0], time.monotonic() - began

    status, took = call("/")
    assert status.startswith("200") and took >= 0.03
    status, took = call("/health")
    assert status.startswith("200") and took < 0.03
