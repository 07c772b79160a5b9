"""packet_faults: forged packets against the site, crafted with Scapy; what does each one break?

    client1 ──HTTPS every 10 ms (probe)──▶ VIP 10.0.1.100 ─▶ lb1 (MASTER) / lb2 (BACKUP) ─▶ servers
       │                                       ▲
       │ rst_to_client / rst_to_server:        │ client2 (the attacker on the internet side):
       │ "an attacker inside the host": the    │   vrrp_own_source  forged VRRPv3 adverts, priority 254,
       │ fabric is switched, nobody else sees  │                    the site's VRID, from client2's address
       │ client1's packets, so the attack runs │   vrrp_spoofed_lb  the same, spoofing the backup LB's
       │ ON client1, sniffs client1-eth0 and   │                    front address (passes the firewall)
       │ resets each new connection to VIP:443 │   garp             gratuitous ARPs "VIP is at client2"
       │ (spoofed VIP→client into its own      │   synflood         5000 SYNs at VIP:443, 4000/s
       │ stack, or client→VIP out of the wire) │

One trial runs every attack in turn (experiments/scapy_attacks.py inside the attacking host, its
pid recorded in the run directory, bounded in packets and seconds):

    steady state → probe on client1 (10 ms) → baseline successes → attack (fault "scapy_<attack>")
    → observe while it runs and for a bounded window after it (sampling who holds the VIP and
      client1's ARP entry for it every 0.2 s) → stop the probe → recover (stop by pid; undo:
      flush poisoned ARP entries / wait for one VRRP master) → steady state → next attack

Per attack, from evidence only: what was sent (the script's own JSON report), failed requests and
outage (analysis.outage from the moment the attack started sending), vip_stolen (the VIP holder
changed, or client1's ARP entry for the VIP pointed at a non-LB MAC), the keepalived notify
records and keepalived's own log lines during the attack, the LBs' firewall default-deny counter
delta, kernel TCP counters that only attacks move (challenge ACKs, SYN cookies, listen queue
overflows) on the LBs and the victim, half-open connections after the attack, and a timeline plot.

What the testbed did (seed run, tuned timers; see the README for numbers):
- rst: with the exact sequence number (taken from the SYN-ACK or the client's first data
  segment, ~1 ms reaction) nearly every attacked connection dies; to-client RSTs end as "reset",
  to-server RSTs mostly as TLS timeouts (the LB side is gone, the client waits for a ServerHello).
- vrrp from client2's own address: every advert dropped by both LBs' firewalls, nothing changes.
- vrrp spoofing the backup LB (lb2): the firewall accepts it (source = an LB address) and VRRP has
  no authentication: the master logs "received advert from 10.0.1.13 with higher priority 254"
  and goes BACKUP at once; lb2 ignores adverts carrying its own address, times out and becomes
  MASTER (~0.33 s): the attack forces a failover to the backup (~0.35 s outage), and with
  nopreempt the VIP stays there.
- garp: client1's ARP entry for the VIP flips to client2's MAC within ~0.1 s; every request
  fails until the entry goes through DELAY (5 s) and 3 unanswered unicast probes and is
  re-resolved (~8 s after the last GARP). keepalived does not refresh its GARPs (only on becoming
  MASTER and 5 s later), so nothing on the LB side repairs it sooner.
- synflood: the listener's SYN queue fills (4096 SYN_RECV), the kernel switches to SYN cookies,
  the probe sees no failure.
"""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import time
from pathlib import Path

from experiments import analysis, report
from experiments.base import Experiment, ExperimentError
from topo import command
from topo.status import vip_holders
from topo.wait import NotReadyError, wait_until

SCRIPT = Path(__file__).resolve().parent / "scapy_attacks.py"
READY_TIMEOUT = 30.0  # interpreter + Scapy import inside a busy host; normally 1-2 s

# Kernel TCP counters read from each host's own /proc/net (per network namespace). Only counters
# the attacks move and normal traffic does not: resets counters (EstabResets, OutRsts) are left
# out because the probe and HAProxy's health checks close connections with RST all the time.
TCP_COUNTERS = {
    "TcpExt": ("TCPChallengeACK", "SyncookiesSent", "SyncookiesRecv", "SyncookiesFailed", "ListenOverflows",
               "ListenDrops", "TCPReqQFullDoCookies", "TCPReqQFullDrop"),
}


# -- the fault ---------------------------------------------------------------------------------------
class ScapyAttack:
    """One run of scapy_attacks.py inside `host`: inject() starts it (and waits until it sends),
    recover() stops it by pid if still running and undoes its side effects (`undo`)."""

    def __init__(self, testbed, host: str, attack: str, options: list[str], label: str, bound_s: float,
                 undo=None):
        self.testbed = testbed
        self.host = host
        self.attack = attack
        self.kind = f"scapy_{attack}"
        self.options = options
        self.label = label
        self.bound_s = bound_s  # the script's own --duration: it must be gone well after this
        self.undo = undo
        directory = testbed.run_dir.path / "attacks"
        directory.mkdir(parents=True, exist_ok=True)
        self.report_path = directory / f"{label}.json"
        self.log_path = directory / f"{label}.log"
        self.proc: subprocess.Popen | None = None
        self.record = None
        self.injected_at: float | None = None
        self.ready_at: float | None = None
        self.recovered = False

    def argv(self) -> list[str]:
        return [sys.executable, str(SCRIPT), self.attack, *self.options, "--report", str(self.report_path)]

    def describe(self) -> str:
        return f"{self.attack} from {self.host}: {' '.join(self.options)}"

    def inject(self) -> dict:
        self.injected_at = time.time()
        with open(self.log_path, "ab") as log:
            self.proc = self.testbed.net[self.host].popen(self.argv(), stdin=subprocess.DEVNULL, stdout=log,
                                                          stderr=subprocess.STDOUT)
        self.record = self.testbed.run_dir.record_process(f"attack-{self.label}", self.proc.pid)
        try:
            wait_until(lambda: self._ready() is not None or self.proc.poll() is not None, READY_TIMEOUT,
                       f"attack {self.label} sending")
        except NotReadyError:
            self._stop()
            raise ExperimentError(f"attack {self.label} did not start within {READY_TIMEOUT:g} s; "
                                  f"see {self.log_path}") from None
        self.ready_at = self._ready()
        if self.ready_at is None:
            raise ExperimentError(f"attack {self.label} exited ({self.proc.returncode}) before sending: "
                                  f"{self.log_path.read_text(errors='replace').strip()[-400:]}")
        return {"attack": self.describe(), "pid": self.proc.pid, "ready_at": self.ready_at,
                "startup_s": round(self.ready_at - self.injected_at, 3)}

    def _ready(self) -> float | None:
        try:
            text = self.log_path.read_text(errors="replace")
        except FileNotFoundError:
            return None
        for line in text.splitlines():
            if line.startswith('{"ready"'):
                return json.loads(line)["ready"]
        return None

    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def wait(self, timeout: float) -> bool:
        """Wait (bounded) for the attack to end by itself; False if it is still running."""
        if self.proc is None:
            return True
        try:
            self.proc.wait(timeout)
            return True
        except subprocess.TimeoutExpired:
            return False

    def _stop(self) -> str:
        if not self.running():
            return "had exited"
        self.record.send(15)  # SIGTERM: the script writes its report and exits
        try:
            self.proc.wait(5)
            return "stopped (SIGTERM)"
        except subprocess.TimeoutExpired:
            self.record.send(9)
            self.proc.wait(5)
            return "killed (SIGKILL)"

    def sent(self) -> dict:
        """The script's own JSON report of what it sent ({} if it wrote none)."""
        try:
            return json.loads(self.report_path.read_text())
        except (FileNotFoundError, json.JSONDecodeError):
            return {}

    def recover(self) -> dict:
        if self.recovered:
            return {"already": True}
        self.recovered = True
        detail = {"process": self._stop(), "returncode": self.proc.returncode if self.proc else None}
        if self.undo is not None:
            detail["undo"] = self.undo()
        return detail


# -- the experiment ----------------------------------------------------------------------------------
class PacketFaults(Experiment):
    name = "packet_faults"
    description = ("Scapy packet attacks in turn (RST injection on client1, forged VRRPv3 from client2 with its "
                   "own and a spoofed LB source, gratuitous ARP for the VIP, SYN burst): failed requests, VIP "
                   "stolen?, VRRP state changes, firewall drops")
    profiles = ("tuned",)
    headline = ("rst_to_client_failed_requests", "rst_to_server_failed_requests", "vrrp_own_source_failed_requests",
                "vrrp_spoofed_lb_failed_requests", "garp_failed_requests", "synflood_failed_requests",
                "vip_stolen_by")

    ATTACKS = ("rst_to_client", "rst_to_server", "vrrp_own_source", "vrrp_spoofed_lb", "garp", "synflood")
    # Attack bounds (seconds / packets); the script caps them again.
    RST_DURATION, RST_MAX = 1.5, 400
    VRRP_DURATION, VRRP_PRIORITY = 1.5, 254
    GARP_COUNT, GARP_INTERVAL = 4, 0.5
    # More SYNs than the listener's queue (HAProxy backlog = maxconn 4096 = somaxconn): the kernel
    # must fall back to SYN cookies for the rest.
    SYN_COUNT, SYN_RATE = 5000, 4000.0
    SAMPLE_INTERVAL = 0.2

    def validate(self) -> None:
        super().validate()
        if len(self.site.clients) < 2:
            raise ExperimentError("packet_faults: needs two clients (a victim and an attacker)")
        if len(self.site.lbs) < 2:
            raise ExperimentError("packet_faults: needs two load balancers (a spoofable backup)")

    # -- hosts and facts ------------------------------------------------------------------------------
    @property
    def victim(self) -> str:
        return self.site.clients[0]

    @property
    def attacker(self) -> str:
        return self.site.clients[1]

    def iface(self, host: str) -> str:
        return self.site.interface(host, self.site.vip_network)

    def mac(self, host: str) -> str:
        return next(i.mac for i in self.site.plan.host_interfaces(host) if i.network == self.site.vip_network)

    def who_has_mac(self, mac: str | None) -> str | None:
        if not mac:
            return None
        for intf in self.site.plan.interfaces:
            if intf.mac == mac:
                return intf.host
        return "unknown"

    def vip_neighbour(self, host: str) -> dict:
        """`host`'s ARP entry for the VIP: {"mac", "state", "owner"} (mac None: no entry)."""
        out = command.run(["ip", "-4", "neigh", "show", self.site.vip, "dev", self.iface(host)],
                          self.testbed.net[host], check=False, timeout=5).stdout.split()
        mac = out[out.index("lladdr") + 1] if "lladdr" in out else None
        return {"mac": mac, "state": out[-1] if out else None, "owner": self.who_has_mac(mac)}

    def tcp_counters(self, host: str) -> dict:
        node = self.testbed.net[host]
        values = {}
        for path in ("/proc/net/snmp", "/proc/net/netstat"):
            lines = command.check_output(["cat", path], node, timeout=5).splitlines()
            for names, numbers in zip(lines[::2], lines[1::2]):
                group = names.split(":")[0]
                wanted = TCP_COUNTERS.get(group)
                if not wanted:
                    continue
                row = dict(zip(names.split()[1:], numbers.split()[1:]))
                values.update({f"{group}.{k}": int(row[k]) for k in wanted if k in row})
        return values

    def syn_recv(self, host: str) -> int:
        """Half-open TCP connections (SYN_RECV) in `host` right now."""
        out = command.run(["ss", "-Htn", "state", "syn-recv"], self.testbed.net[host], check=False, timeout=5).stdout
        return sum(1 for line in out.splitlines() if line.strip())

    def snapshot(self) -> dict:
        fw = {lb: self.testbed.services.find(lb, "firewall").dropped(self.testbed.net[lb])[0] for lb in self.site.lbs}
        tcp = {h: self.tcp_counters(h) for h in (*self.site.lbs, self.victim)}
        logs = {}
        for lb in self.site.lbs:
            path = self.testbed.services.find(lb, "keepalived").log_path
            logs[lb] = path.stat().st_size if path.exists() else 0
        return {"t": time.time(), "firewall_dropped": fw, "tcp": tcp, "keepalived_log_offset": logs,
                "syn_recv": {lb: self.syn_recv(lb) for lb in self.site.lbs},
                "vip_holders": vip_holders(self.testbed), "victim_arp": self.vip_neighbour(self.victim)}

    def keepalived_lines(self, offsets: dict, limit: int = 12) -> dict:
        """keepalived's own log lines written since `offsets` (VRRP instance lines, first `limit`)."""
        lines = {}
        for lb in self.site.lbs:
            path = self.testbed.services.find(lb, "keepalived").log_path
            try:
                with open(path, "rb") as f:
                    f.seek(offsets.get(lb, 0))
                    text = f.read(200_000).decode(errors="replace")
            except FileNotFoundError:
                continue
            all_lines = text.splitlines()
            picked = [line.strip() for line in all_lines if "(VI_" in line and "gratuitous ARP" not in line]
            garps = sum(1 for line in all_lines if line.split(": ", 1)[-1].startswith("Sending gratuitous ARP"))
            lines[lb] = {"lines": picked[:limit] + ([f"... {len(picked) - limit} more"] if len(picked) > limit else []),
                         "gratuitous_arps_sent": garps}
        return lines

    # -- sampling during an attack ------------------------------------------------------------------
    def sampler(self, stop: threading.Event, samples: list, limit_s: float) -> threading.Thread:
        def loop():
            deadline = time.monotonic() + limit_s
            while not stop.is_set() and time.monotonic() < deadline:
                began = time.time()
                try:
                    holders = vip_holders(self.testbed)
                    arp = self.vip_neighbour(self.victim)
                    samples.append({"t": began, "holders": holders, "victim_arp": arp})
                except Exception as exc:  # a sample lost is not the experiment lost
                    samples.append({"t": began, "error": f"{type(exc).__name__}: {exc}"})
                stop.wait(self.SAMPLE_INTERVAL)

        thread = threading.Thread(target=loop, name="packet-faults-sampler", daemon=True)
        thread.start()
        return thread

    # -- one attack -----------------------------------------------------------------------------------
    def attack_spec(self, name: str, index: int) -> tuple[str, str, list[str], float, object]:
        """(host, script attack, options, bound in s, undo) of one attack."""
        site, ka = self.site, self.site.services.keepalived
        if name in ("rst_to_client", "rst_to_server"):
            direction = name.removeprefix("rst_").replace("_", "-")
            return (self.victim, "rst", ["--iface", self.iface(self.victim), "--vip", site.vip,
                                         "--port", str(site.services.ports.https), "--direction", direction,
                                         "--max-rsts", str(self.RST_MAX), "--duration", f"{self.RST_DURATION:g}"],
                    self.RST_DURATION, None)
        if name.startswith("vrrp"):
            if name == "vrrp_own_source":
                src = site.ip(self.attacker, site.vip_network)
            else:
                holders = vip_holders(self.testbed)
                spoofed = next(lb for lb in site.lbs if lb not in holders)
                src = site.ip(spoofed, site.vip_network)
            return (self.attacker, "vrrp", ["--iface", self.iface(self.attacker), "--src", src, "--vrid", str(ka.vrid),
                                            "--priority", str(self.VRRP_PRIORITY), "--vip", site.vip,
                                            "--advert-int", f"{ka.advert_int:g}",
                                            "--duration", f"{self.VRRP_DURATION:g}"],
                    self.VRRP_DURATION, self.wait_for_master)
        if name == "garp":
            duration = self.GARP_COUNT * self.GARP_INTERVAL + 1
            return (self.attacker, "garp", ["--iface", self.iface(self.attacker), "--vip", site.vip,
                                            "--count", str(self.GARP_COUNT), "--interval", f"{self.GARP_INTERVAL:g}",
                                            "--duration", f"{duration:g}"],
                    duration, self.flush_poisoned_arp)
        if name == "synflood":
            duration = self.SYN_COUNT / self.SYN_RATE + 5
            return (self.attacker, "synflood", ["--iface", self.iface(self.attacker), "--dst", site.vip,
                                                "--port", str(site.services.ports.https),
                                                "--count", str(self.SYN_COUNT), "--rate", f"{self.SYN_RATE:g}",
                                                "--seed", str(self.rng.randrange(2 ** 31)),
                                                "--duration", f"{duration:g}"],
                    duration, None)
        raise ExperimentError(f"packet_faults: unknown attack {name!r}")

    def wait_for_master(self) -> dict:
        try:
            wait_until(lambda: len(vip_holders(self.testbed)) == 1, 15, "one load balancer holding the VIP")
        except NotReadyError as exc:
            return {"vip_holders": vip_holders(self.testbed), "error": str(exc)}
        return {"vip_holders": vip_holders(self.testbed)}

    def flush_poisoned_arp(self) -> dict:
        """Flush every internet-side host's ARP entry for the VIP that points to a non-LB MAC."""
        flushed = {}
        for host in self.site.topology.hosts:
            if host == self.attacker or self.site.topology.hosts[host].role == "lb":
                continue
            if not any(i.network == self.site.vip_network for i in self.site.plan.host_interfaces(host)):
                continue
            entry = self.vip_neighbour(host)
            if entry["mac"] and entry["owner"] not in self.site.lbs:
                command.run(["ip", "-4", "neigh", "flush", "to", self.site.vip, "dev", self.iface(host)],
                            self.testbed.net[host], timeout=5)
                flushed[host] = entry
        return {"flushed": flushed}

    def post_window_done(self, name: str, samples: list, attack_end: float) -> bool:
        """Evidence that the after-effects are over (so observation can stop before its bound): the
        site healthy in the latest sample, at least a second after the attack ended (tuned VRRP
        declares a silent master dead in ~0.2 s, so a late reaction would show within it)."""
        if time.time() - attack_end < 1.0:
            return False
        last = next((s for s in reversed(samples) if "holders" in s), None)
        if last is None:
            return False
        healthy = len(last["holders"]) == 1 and last["victim_arp"]["owner"] in self.site.lbs
        return healthy  # garp: this waits for the self-heal (neighbour DELAY + unicast probes)

    POST_BOUND = {"rst_to_client": 2.0, "rst_to_server": 2.0, "vrrp_own_source": 3.0, "vrrp_spoofed_lb": 10.0, "garp": 15.0, "synflood": 5.0}

    def run_attack(self, name: str, index: int) -> dict:
        host, attack, options, bound_s, undo = self.attack_spec(name, index)
        label = f"{name}-{index}"
        before = self.snapshot()
        probe = self.start_probe(self.victim, f"packet-faults-{label}", interval=0.01, timeout=1.0,
                                 duration=bound_s + self.POST_BOUND[name] + READY_TIMEOUT + 20)
        fault = ScapyAttack(self.testbed, host, attack, options, label, bound_s, undo)
        samples: list[dict] = []
        stop = threading.Event()
        thread = None
        try:
            thread = self.sampler(stop, samples, bound_s + self.POST_BOUND[name] + READY_TIMEOUT + 10)
            self.inject(fault)
            if not fault.wait(bound_s + 10):
                samples.append({"t": time.time(), "note": "attack overran its bound; stopped at recovery"})
            attack_end = time.time()
            try:
                wait_until(lambda: self.post_window_done(name, samples, attack_end), self.POST_BOUND[name],
                           f"after-effects of {name} over", interval=0.1)
                settled = True
            except NotReadyError:
                settled = False
        finally:
            stop.set()
            if thread is not None:
                thread.join(5)
            requests = probe.stop()
        sent = fault.sent()
        start_t = fault.ready_at
        after_attack = self.snapshot()
        # Recover now (not at the end of the trial): the next attack needs a clean site.
        if fault in self.faults:
            self.faults.remove(fault)
        with self.journal.step(f"recover {fault.kind} ({name})") as step:
            step.detail = recovery = fault.recover()
        after_recovery = {"t": time.time(), "vip_holders": vip_holders(self.testbed),
                          "victim_arp": self.vip_neighbour(self.victim)}

        result = analysis.outage(requests, start_t)
        vrrp = [e for e in self.vrrp_events(start_t - 0.5) if e["t"] <= after_attack["t"]]
        lb_macs = {self.mac(lb) for lb in self.site.lbs}
        good = [s for s in samples if "holders" in s]
        holder_changes = _changes([(s["t"], tuple(s["holders"])) for s in good])
        arp_changes = _changes([(s["t"], s["victim_arp"]["mac"]) for s in good])
        poisoned = [s for s in good if s["victim_arp"]["mac"] and s["victim_arp"]["mac"] not in lb_macs]
        unheld = [s for s in good if not s["holders"]]
        holder_changed = any(tuple(s["holders"]) != tuple(before["vip_holders"]) for s in good)
        end_of_sending = max([p["t"] if isinstance(p, dict) else start_t + p[0] for p in sent.get("packets", [])],
                             default=start_t)
        poison_end = None
        if poisoned:
            later = [s for s in good if s["t"] > poisoned[-1]["t"]]
            poison_end = later[0]["t"] if later else None

        events = [(start_t, f"{name} starts"), (end_of_sending, f"{name}: last packet")]
        events += [(e["t"], f"{e['host']} {e['state']}") for e in vrrp]
        events += [(t, f"VIP on {','.join(h) or 'nobody'}") for t, h in holder_changes[1:]]
        events += [(t, f"{self.victim} ARP VIP→{self.who_has_mac(m)}") for t, m in arp_changes[1:]]
        self.events += events
        report.write_requests_csv(self.out_dir / f"requests-{label}.csv", requests)
        report.timeline_plot(requests, start_t, events, self.out_dir / f"timeline-{label}.png",
                             f"packet_faults trial {index}: {name} ({attack} from {host})", outage=result)
        self.save_json(f"attack-{label}.json", sent)

        fw_delta = {lb: after_attack["firewall_dropped"][lb] - before["firewall_dropped"][lb] for lb in self.site.lbs}
        tcp_delta = {h: {k: v - before["tcp"][h].get(k, 0) for k, v in after_attack["tcp"][h].items()
                         if v - before["tcp"][h].get(k, 0)} for h in after_attack["tcp"]}
        return {
            "attack": name, "host": host, "victim": self.victim, "kind": fault.kind, "command": fault.describe(),
            "sent": {"counts": sent.get("counts"), "fields": sent.get("fields"), "stopped_by": sent.get("stopped_by"),
                     "error": sent.get("error"), "first_t": start_t, "last_t": end_of_sending,
                     "startup_s": round(start_t - fault.injected_at, 3),
                     "reaction_ms_median": _median([p.get("reaction_ms") for p in sent.get("packets", [])
                                                    if isinstance(p, dict)])},
            "failed_requests": result["failed_requests"], "outage_ms": result["outage_ms"],
            "requests": len(requests), "errors": result["errors"], "bursts": result["bursts"],
            "not_recovered": result["not_recovered"],
            "vip_stolen": bool(holder_changed or poisoned),
            "vip_holder_changed": holder_changed, "vip_unheld_samples": len(unheld),
            "vip_holders_before": before["vip_holders"],
            "vip_holder_changes": [{"t_ms": _rel(t, start_t), "holders": list(h)} for t, h in holder_changes],
            "victim_arp_before": before["victim_arp"], "victim_arp_after_attack": after_attack["victim_arp"],
            "victim_arp_after_recovery": after_recovery["victim_arp"],
            "victim_arp_changes": [{"t_ms": _rel(t, start_t), "mac": m, "owner": self.who_has_mac(m)}
                                   for t, m in arp_changes],
            "arp_poisoned": bool(poisoned),
            "arp_poisoned_ms": (round((poison_end - poisoned[0]["t"]) * 1000) if poisoned and poison_end else None),
            "arp_self_healed": bool(poisoned) and poison_end is not None,
            "vrrp_events": [{"t_ms": _rel(e["t"], start_t), "host": e["host"], "state": e["state"],
                             "priority": e.get("priority")} for e in vrrp],
            "vrrp_state_changes": len(vrrp),
            "firewall_dropped_delta": fw_delta,
            "syn_recv_before": before["syn_recv"], "syn_recv_after_attack": after_attack["syn_recv"],
            "tcp_counters_delta": tcp_delta,
            "keepalived_log": self.keepalived_lines(before["keepalived_log_offset"]),
            "samples": len(good), "settled_before_recovery": settled,
            "recovery": recovery, "vip_holders_after_recovery": after_recovery["vip_holders"],
        }

    def run_trial(self, index: int) -> dict:
        attacks = {}
        for n, name in enumerate(self.ATTACKS):
            if n:
                with self.journal.step(f"trial {index}: steady state before {name}") as step:
                    step.detail = self.wait_steady_state()
            with self.journal.step(f"trial {index}: attack {name}") as step:
                attacks[name] = self.run_attack(name, index)
                step.detail = {k: attacks[name][k] for k in ("failed_requests", "vip_stolen", "vrrp_state_changes")}
        flat = {f"{name}_failed_requests": a["failed_requests"] for name, a in attacks.items()}
        return {**flat, "vip_stolen_by": [name for name, a in attacks.items() if a["vip_stolen"]],
                "what_happened": {name: describe(a) for name, a in attacks.items()}, "attacks": attacks}

    def summarize(self, trials: list[dict]) -> dict:
        metrics: dict = {}
        per_attack = {}
        for name in self.ATTACKS:
            runs = [t["attacks"][name] for t in trials if name in t.get("attacks", {})]
            if not runs:
                continue
            failed = analysis.summarize([r["failed_requests"] for r in runs])
            metrics[f"{name}_failed_requests"] = failed
            per_attack[name] = {
                "failed_requests_median": failed["median"],
                "outage_ms": analysis.summarize([r["outage_ms"] for r in runs]),
                "vip_ever_stolen": any(r["vip_stolen"] for r in runs),
                "vrrp_state_changes": analysis.summarize([r["vrrp_state_changes"] for r in runs]),
                "firewall_dropped_delta": {lb: analysis.summarize([r["firewall_dropped_delta"][lb] for r in runs])["median"]
                                           for lb in runs[0]["firewall_dropped_delta"]},
                "what_happened": [describe(r) for r in runs],
            }
        metrics["vip_stolen_by"] = [n for n, a in per_attack.items() if a["vip_ever_stolen"]]
        metrics["attacks"] = per_attack
        return metrics


def _changes(series: list[tuple[float, object]]) -> list[tuple[float, object]]:
    """The first sample and every sample whose value differs from the previous one."""
    out = []
    for t, value in series:
        if not out or out[-1][1] != value:
            out.append((t, value))
    return out


def _holders_text(a: dict) -> str:
    changes = a["vip_holder_changes"]
    if not a["vip_holder_changed"]:
        return f"stayed on {','.join(a['vip_holders_before']) or 'nobody'}"
    return " → ".join(f"{','.join(c['holders']) or 'nobody'}" + (f" at {c['t_ms']:+.0f} ms" if i else "")
                      for i, c in enumerate(changes))


def _median(values: list) -> float | None:
    return analysis.summarize(values)["median"]


def _rel(t: float, start: float) -> float:
    return round((t - start) * 1000, 1)


def describe(a: dict) -> str:
    """What the system did, in words, from one attack's metrics."""
    counts = a["sent"].get("counts") or {}
    failed = f"{a['failed_requests']} of {a['requests']} probe requests failed"
    if a["failed_requests"]:
        failed += f" (outage {a['outage_ms']:.0f} ms, {', '.join(f'{k} {v}' for k, v in a['errors'].items())})"
    vrrp = ", ".join(f"{e['host']} {e['state']} at {e['t_ms']:+.0f} ms" for e in a["vrrp_events"]) or "no VRRP state change"
    drops = ", ".join(f"{lb} +{n}" for lb, n in a["firewall_dropped_delta"].items())
    tcp = a["tcp_counters_delta"]
    name = a["attack"]
    if a["vrrp_events"] and not name.startswith("vrrp"):
        said = "; ".join(f"{lb}: {v['lines'][0]}" for lb, v in a["keepalived_log"].items() if v.get("lines"))
        vrrp += f" (keepalived logged {said or 'nothing'})"
    if name.startswith("rst"):
        challenges = {h: c.get("TcpExt.TCPChallengeACK", 0) for h, c in tcp.items()}
        towards = ("into the client's own stack, spoofed as VIP:443" if name == "rst_to_client"
                   else "out to the VIP as the client")
        return (f"RST injection on {a['host']} (attacker inside the victim host): {counts.get('rsts', 0)} RSTs "
                f"{towards}, one per connection ({counts.get('connections_seen', 0)} connections seen), "
                f"reaction median {a['sent'].get('reaction_ms_median')} ms; RSTs seen coming back from the VIP "
                f"{counts.get('rst_from_vip', 0)}; challenge ACKs (RST in window but not exact) {challenges}; "
                f"{failed}.")
    if name.startswith("vrrp"):
        fields = a["sent"].get("fields") or {}
        return (f"{counts.get('adverts', 0)} forged VRRPv3 adverts (VRID {fields.get('vrid')}, priority "
                f"{fields.get('priority')}, source {fields.get('ip_src')}); LB firewall drops {drops}; {vrrp}; "
                f"VIP {_holders_text(a)}; {failed}.")
    if name == "garp":
        arp = "; ".join(f"{c['owner']} at {c['t_ms']:+.0f} ms" for c in a["victim_arp_changes"])
        healed = ("healed by itself after {:.1f} s".format(a["arp_poisoned_ms"] / 1000) if a["arp_self_healed"]
                  else "still poisoned at recovery: flushed" if a["arp_poisoned"] else "never poisoned")
        announced = sum(v.get("gratuitous_arps_sent", 0) for v in a["keepalived_log"].values())
        return (f"{counts.get('garps', 0)} gratuitous ARPs claiming the VIP: the victim's ARP entry for the VIP "
                f"pointed to {arp or 'nothing'}; {healed}; {vrrp}, keepalived sent {announced} gratuitous ARPs "
                f"meanwhile (it announces only on becoming MASTER and 5 s later, no periodic refresh); {failed}.")
    if name == "synflood":
        lb_tcp = {h: {k.split('.')[-1]: v for k, v in c.items() if "Syncookies" in k or "Listen" in k or "ReqQ" in k}
                  for h, c in tcp.items() if h != a["victim"]}
        return (f"{counts.get('syns', 0)} SYNs at {counts.get('achieved_rate_per_s')} /s from "
                f"{(a['sent'].get('fields') or {}).get('sources')} to VIP:443; half-open connections (SYN_RECV) "
                f"after the burst {a['syn_recv_after_attack']}; LB kernel counters {lb_tcp}; {failed}.")
    return failed
