"""HTTPS requests from inside an emulated host, the way a client sees the service.

curl verifies the server certificate against the run's CA (never -k) and is pinned to an address
with --resolve, so the request goes to the VIP (or a server) under the site's real name.
"""

from __future__ import annotations

from dataclasses import dataclass

from hosts.site import SERVED_BY_HEADER, Site
from runtime import command


@dataclass(frozen=True)
class Response:
    ok: bool
    status: int
    served_by: str
    seconds: float
    error: str = ""
    body: str = ""


def https_request(node, site: Site, path: str = "/", address: str | None = None, method: str = "GET",
                  timeout: float = 3.0) -> Response:
    address = address or site.vip
    name, port = site.services.server_name, site.services.ports.https
    marker = "\n@@"
    argv = ["curl", "-sS", "--max-time", f"{timeout:g}", "-X", method,
            "--cacert", str(site.tls_ca), "--resolve", f"{name}:{port}:{address}",
            "-w", f"{marker}%{{http_code}} %{{time_total}} %header{{{SERVED_BY_HEADER.lower()}}}",
            f"https://{name}:{port}{path}"]
    result = command.run(argv, node, check=False, timeout=timeout + 5)
    body, _, tail = result.stdout.rpartition(marker)
    tail = tail.split()
    status = int(tail[0]) if tail and tail[0].isdigit() else 0
    seconds = float(tail[1]) if len(tail) > 1 else 0.0
    served_by = tail[2] if len(tail) > 2 else ""
    return Response(result.ok and 200 <= status < 300, status, served_by, seconds, result.stderr.strip(), body)
