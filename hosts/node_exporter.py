"""prometheus-node-exporter on every load balancer, server and monitor.

    <host's back-end ip>:9100/metrics  ◀── Prometheus on the monitor (service network)
    (lbs: their back leg; the internet side exposes nothing)

The emulated hosts share the VM's kernel, so CPU, memory and load are the machine's; what is
per host is the network namespace: netdev/netstat/sockstat/conntrack read /proc/net, which follows
the reader's namespace. netdev's address-info (node_network_address_info) shows which balancer
holds the VIP: Prometheus' VRRP rules use it.

Only the collectors that mean something here are enabled (`--collector.disable-defaults`): the
rest read hardware this VM has not got (hwmon, thermal, rapl, edac, nvme, infiniband, ...) or
filesystems and disks of the whole machine, and log noise.
"""

from __future__ import annotations

from hosts.daemon import Daemon
from hosts.prometheus import http_get

COLLECTORS = ["cpu", "loadavg", "meminfo", "netdev", "netstat", "sockstat", "conntrack", "stat",
              "time", "uname", "filefd"]


class NodeExporter(Daemon):
    name = "node_exporter"
    binary = "prometheus-node-exporter"
    package = "prometheus-node-exporter"
    stage = 2
    ready_timeout = 10.0

    @property
    def address(self) -> str:
        return f"{self.site.backend_ip(self.host)}:{self.site.services.ports.node_exporter}"

    def command(self) -> list[str]:
        return (["prometheus-node-exporter", f"--web.listen-address={self.address}",
                 "--collector.disable-defaults"]
                + [f"--collector.{c}" for c in COLLECTORS]
                + ["--collector.netdev.address-info", "--log.level=warn"])

    def is_ready(self, node) -> bool:
        code, _ = http_get(node, f"http://{self.address}/", timeout=1.0)
        return code == 200

    def status(self, node) -> str:
        code, _ = http_get(node, f"http://{self.address}/metrics", timeout=2.0)
        return f"{self.address} answering" if code == 200 else f"{self.address} not answering ({code or 'no reply'})"
