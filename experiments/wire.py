"""An observer independent of the probe: a packet capture inside a client's namespace, read back
as one row per TCP connection to the VIP, so an outage can be measured off the wire and set
beside the probe's own figure.

    client1's namespace
      probe_client.py ──TCP──▶ VIP:443          (the probe's view: its own timestamps and statuses)
      tcpdump -i any 'tcp and host VIP and port 443' ──▶ <run>/captures/<label>.pcap
                                                  (the wire's view: the kernel's timestamps)

    one connection = the client's source port:
      sent       its first SYN
      served     the VIP sent data on it, and the client closed it before the probe's timeout
                 (the probe closes once answered; unanswered, only at its timeout): done at the
                 VIP's first data segment
      failed     otherwise, or a reset from the VIP (the new holder knows no old connection)
      abandoned  the client closed it before any answer was due (the probe stopping): left out

The rows are probes.Request objects, so analysis.outage() reads them as it reads the probe's:
the same definition of an outage, from another witness. A capture that saw no connection is an
error (WireError), never an empty agreement.
"""

from __future__ import annotations

import time
from pathlib import Path

from experiments.probes import Request
from runtime.processes import ProcessError
from runtime.wait import NotReadyError

START_TIMEOUT = 5.0
SNAPLEN = 128  # headers and a little payload: enough to see that the VIP sent data
FIN, SYN, RST, ACK = 0x01, 0x02, 0x04, 0x10


class WireError(RuntimeError):
    """The capture did not start, or saw nothing to judge."""


class WireCapture:
    """tcpdump in `client`'s namespace, recorded and stopped by pid like every testbed process."""

    def __init__(self, testbed, client: str, label: str, address: str, port: int = 443):
        self.testbed = testbed
        self.client = client
        self.address = address
        self.port = port
        self.dir = testbed.run_dir.path / "captures"
        self.pcap = self.dir / f"{label}.pcap"
        self.log = self.dir / f"{label}.log"
        self.label = label
        self.proc = None

    def argv(self) -> list[str]:
        # --immediate-mode: each packet handed over as it comes (libpcap would otherwise hold
        # them up to a second, and a stop drops what it holds); -U: each written as it comes;
        # -n: no name lookups.
        return ["tcpdump", "-i", "any", "-n", "--immediate-mode", "-U", "-s", str(SNAPLEN), "-w", str(self.pcap),
                f"tcp and host {self.address} and port {self.port}"]

    def start(self) -> WireCapture:
        self.dir.mkdir(parents=True, exist_ok=True)
        self.proc = self.testbed.processes.start(f"capture-{self.label}", self.argv(),
                                                 node=self.testbed.net[self.client], log=self.log)
        try:  # tcpdump says "listening on any" once the socket is open
            self.proc.wait_ready(lambda: self.log.exists() and "listening on" in self.log.read_text(errors="replace"),
                                 START_TIMEOUT, f"tcpdump in {self.client}")
        except (NotReadyError, ProcessError):
            self.proc.stop(0)
            raise WireError(f"tcpdump in {self.client} did not start: {self.proc.tail()}") from None
        return self

    def stop(self, timeout: float) -> list[Request]:
        """Stop the capture; the connections it saw (see connections())."""
        if self.proc is None:
            raise WireError("the capture was never started")
        ended = time.time()
        self.proc.stop(3.0)
        return connections(self.pcap, self.address, self.port, timeout, ended)


def connections(pcap: Path, address: str, port: int, timeout: float, ended: float | None = None) -> list[Request]:
    """One Request per client source port seen opening a connection to address:port, sent at its
    first SYN. Served (status 200, done at the VIP's first data segment) when the VIP sent data
    and the client closed the connection sooner than `timeout` (it closes as soon as it has its
    answer, and only at its timeout when it has not); failed otherwise, or when the VIP reset
    the connection (the new VIP holder resets a connection the old one had open). A connection
    the client closed before the VIP sent anything, sooner than `timeout`, was abandoned (the
    probe stopping) and is left out, as is an unserved one opened less than `timeout` before
    the capture `ended` (default: its last packet): its fate falls after the capture. WireError
    when the capture holds no connection."""
    from scapy.layers.inet import IP, TCP
    from scapy.utils import PcapReader

    syn: dict[int, float] = {}
    last_t = 0.0
    data: dict[int, float] = {}
    reset: set[int] = set()
    client_closed: dict[int, float] = {}
    with PcapReader(str(pcap)) as packets:
        for packet in packets:
            if IP not in packet or TCP not in packet:
                continue
            ip, tcp, t = packet[IP], packet[TCP], float(packet.time)
            last_t = max(last_t, t)
            flags = int(tcp.flags)
            if ip.dst == address and tcp.dport == port:
                if flags & SYN and not flags & ACK:
                    syn.setdefault(tcp.sport, t)  # a retransmitted SYN keeps the first one's time
                elif flags & (FIN | RST):
                    client_closed.setdefault(tcp.sport, t)
            elif ip.src == address and tcp.sport == port:
                client = tcp.dport
                if ip.len - 4 * ip.ihl - 4 * tcp.dataofs > 0:
                    data.setdefault(client, t)
                if flags & RST:
                    reset.add(client)
    if not syn:
        raise WireError(f"{pcap.name}: no connection to {address}:{port} captured")
    rows = []
    for sport, sent in sorted(syn.items(), key=lambda item: item[1]):
        first = data.get(sport)
        if sport in reset:
            rows.append(Request(len(rows), sent, sent + timeout, 0, "reset_by_vip", ""))
        elif first is not None and client_closed.get(sport, sent + timeout) - sent < timeout:
            rows.append(Request(len(rows), sent, first, 200, "", ""))
        elif first is None and client_closed.get(sport, sent + timeout) - sent < timeout:
            continue  # abandoned by the client before any answer could be due
        elif sent + timeout > (last_t if ended is None else ended):
            continue  # its answer or its timeout would fall after the capture ended: not judged
        else:
            rows.append(Request(len(rows), sent, sent + timeout, 0, "no_answer_from_vip", ""))
    return rows
