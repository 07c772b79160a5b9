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

One trial runs every attack row of experiments/faults/attacks.py in turn (its builder in
experiments/faults/scapy_attacks.py runs inside the attacking host, owned by pid, bounded in
packets and seconds):

    steady state → probe on client1 (10 ms) → baseline successes → attack (fault "attack:<name>")
    → observe while it runs and for a bounded window after it (sampling who holds the VIP and
      client1's ARP entry for it every 0.2 s) → stop the probe → recover (stop by pid; undo:
      the row's undo: flush poisoned ARP entries / wait for one VRRP master) → steady state → next

Per attack, from evidence only: what was sent (the script's own JSON report), failed requests and
outage (analysis.outage from the moment the attack started sending), vip_stolen (the VIP holder
changed, or client1's ARP entry for the VIP pointed at a non-LB MAC), affected (any of the row's
"affected" observations), the keepalived notify
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

import threading
import time
from concurrent.futures import ThreadPoolExecutor

from experiments import analysis
from experiments.base import Experiment, ExperimentError
from experiments.faults import ATTACKS, Attack
from experiments.faults.attack import READY_TIMEOUT
from experiments.faults.attacks import VRRP_PRIORITY, victim
from runtime import observe
from runtime.observe import vip_holders
from runtime.wait import NotReadyError, wait_until

# Kernel TCP counters read from each host's own /proc/net (per network namespace). Only counters
# the attacks move and normal traffic does not: resets counters (EstabResets, OutRsts) are left
# out because the probe and HAProxy's health checks close connections with RST all the time.
TCP_COUNTERS = {
    "TcpExt": ("TCPChallengeACK", "SyncookiesSent", "SyncookiesRecv", "SyncookiesFailed", "ListenOverflows",
               "ListenDrops", "TCPReqQFullDoCookies", "TCPReqQFullDrop"),
}



def garp_refresh(ka) -> str | None:
    """How the VIP holder re-announces the VIP, in words (None: only on becoming MASTER)."""
    if not ka.garp_refresh_s:
        return None
    every = ka.garp_refresh_s / ka.garp_refresh_burst
    return f"re-announced every {every:g} s while MASTER"

class PacketFaults(Experiment):
    name = "packet_faults"
    description = ("Scapy packet attacks in turn (RST injection on client1, forged VRRPv3 from client2 with its "
                   "own and a spoofed LB source, gratuitous ARP for the VIP, SYN burst): failed requests, VIP "
                   "stolen?, VRRP state changes, firewall drops")
    order = 80
    profiles = ("tuned",)
    headline = tuple(f"{name}_failed_requests" for name in ATTACKS) + ("vip_stolen_by",)
    SAMPLE_INTERVAL = 0.2
    ATTEMPTS = 3  # an attack is run again when VRRP moved on its own before its first packet

    def validate(self) -> None:
        super().validate()
        for row in ATTACKS.values():
            why = row.applies(self.site.topology)
            if why and not row.unicast_only:  # a row for the other VRRP design is skipped
                raise ExperimentError(f"packet_faults: attack {row.name}: {why}")

    @property
    def attacks(self) -> list[str]:
        """The attack rows that apply to this topology, in order."""
        return [name for name, row in ATTACKS.items() if row.applies(self.site.topology) is None]

    # -- hosts and facts ------------------------------------------------------------------------------
    @property
    def victim(self) -> str:
        return victim(self.site.topology)

    def mac(self, host: str) -> str:
        return next(i.mac for i in self.site.plan.host_interfaces(host) if i.network == self.site.vip_network)

    def victim_arp(self) -> dict:
        return observe.neighbour(self.testbed, self.victim, self.site.vip)

    def snapshot(self) -> dict:
        """Counters and state before or after an attack. Each reading is a command in some
        namespace (iptables, ovs-ofctl, /proc): run side by side, a snapshot takes the time of
        the slowest, not of all twenty (it is taken twice per attack)."""
        net, services = self.testbed.net, self.testbed.services
        lbs, switches = self.site.lbs, self.site.topology.switches
        with ThreadPoolExecutor(max_workers=8) as pool:
            fw = {lb: pool.submit(lambda lb=lb: services.find(lb, "firewall").dropped(net[lb])[0]) for lb in lbs}
            vrrp = {lb: pool.submit(lambda lb=lb: sum(services.find(lb, "firewall").vrrp_dropped(net[lb]).values()))
                    for lb in lbs}
            tcp = {h: pool.submit(observe.tcp_counters, net[h], TCP_COUNTERS) for h in (*lbs, self.victim)}
            guards = [pool.submit(observe.guard_drops, switch, net[switch]) for switch in switches]
            syn = {lb: pool.submit(observe.syn_recv, net[lb]) for lb in lbs}
            holders = pool.submit(vip_holders, self.testbed)
            arp = pool.submit(self.victim_arp)
        logs = {}
        for lb in lbs:
            path = services.find(lb, "keepalived").log_path
            logs[lb] = path.stat().st_size if path.exists() else 0
        return {"t": time.time(), "firewall_dropped": {lb: f.result() for lb, f in fw.items()},
                "vrrp_dropped": {lb: f.result() for lb, f in vrrp.items()},
                "guard_dropped": sum(n for f in guards for n in f.result().values()),
                "tcp": {h: f.result() for h, f in tcp.items()}, "keepalived_log_offset": logs,
                "syn_recv": {lb: f.result() for lb, f in syn.items()},
                "vip_holders": holders.result(), "victim_arp": arp.result()}

    def keepalived_lines(self, offsets: dict, limit: int = 12) -> dict:
        """keepalived's own log lines written since `offsets`: the VRRP instance lines (first
        `limit`), how many gratuitous ARPs it sent, and whether it said why it changed state:
        an advert of the forged priority heard, or the peer's adverts missed (a timeout)."""
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
                         "gratuitous_arps_sent": garps,
                         "forged_advert_heard": any(f"priority {VRRP_PRIORITY}" in line for line in picked),
                         "advert_timeout": any("Receive advertisement timeout" in line for line in picked)}
        return lines

    # -- sampling during an attack ------------------------------------------------------------------
    def sampler(self, stop: threading.Event, samples: list, limit_s: float) -> threading.Thread:
        def loop():
            deadline = time.monotonic() + limit_s
            while not stop.is_set() and time.monotonic() < deadline:
                began = time.time()
                try:
                    holders = vip_holders(self.testbed)
                    samples.append({"t": began, "holders": holders, "victim_arp": self.victim_arp()})
                except Exception as exc:  # a sample lost is not the experiment lost
                    samples.append({"t": began, "error": f"{type(exc).__name__}: {exc}"})
                stop.wait(self.SAMPLE_INTERVAL)

        thread = threading.Thread(target=loop, name="packet-faults-sampler", daemon=True)
        thread.start()
        return thread

    # -- one attack -----------------------------------------------------------------------------------
    def post_window_done(self, name: str, samples: list, attack_end: float) -> bool:
        """Evidence that the after-effects are over (so observation can stop before its bound): the
        site healthy in the latest sample, at least 0.5 s after the attack ended (tuned VRRP
        declares a silent master dead in ~0.2 s, so a late reaction would show within it)."""
        if time.time() - attack_end < 0.5:
            return False
        last = next((s for s in reversed(samples) if "holders" in s), None)
        if last is None:
            return False
        healthy = len(last["holders"]) == 1 and last["victim_arp"]["owner"] in self.site.lbs
        return healthy  # garp: this waits for the self-heal (neighbour DELAY + unicast probes)

    def run_attack(self, name: str, index: int, attempt: int = 0) -> dict:
        row = ATTACKS[name]
        part = name + (f"-again{attempt}" if attempt else "")  # a disturbed attempt's files stay
        label = f"{part}-{index}"
        # The attacker starts up (Python, Scapy: ~0.5 s at nice 19) while the snapshot and the
        # probe's baseline are taken, held at its go until inject().
        fault = Attack(self.testbed, name, rng=self.rng, label=label)
        fault.prepare()
        try:
            before = self.snapshot()
            probe = self.start_probe(self.victim, f"packet-faults-{label}", interval=0.01, timeout=1.0,
                                     duration=row.bound_s + row.window_s + READY_TIMEOUT + 20)
        except BaseException:
            fault.recover()  # stops the held attacker: it never sent
            raise
        samples: list[dict] = []
        stop = threading.Event()
        thread = None
        try:
            thread = self.sampler(stop, samples, row.bound_s + row.window_s + READY_TIMEOUT + 10)
            self.inject(fault)
            if not fault.wait(row.bound_s + 10):
                samples.append({"t": time.time(), "note": "attack overran its bound; stopped at recovery"})
            attack_end = time.time()
            try:
                wait_until(lambda: self.post_window_done(name, samples, attack_end), row.window_s,
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
        recovery = self.recover_now(fault, "the next attack needs a clean site")
        after_recovery = {"t": time.time(), "vip_holders": vip_holders(self.testbed), "victim_arp": self.victim_arp()}

        result = analysis.outage(requests, start_t)
        # A VRRP change before the attack's first packet is not the attack's doing: the site moved
        # on its own while the attacker started (a second of Python on a loaded CPU; once seen in
        # CI: lb2 MASTER then BACKUP 0.2 s before the first advert, 34 requests lost to it).
        around = [e for e in self.vrrp_events(before["t"]) if e["t"] <= after_attack["t"]]
        earlier = [e for e in around if e["t"] < start_t]
        vrrp = [e for e in around if e["t"] >= start_t]
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
        events += [(t, f"{self.victim} ARP VIP→{observe.host_of_mac(self.site.plan, m)}") for t, m in arp_changes[1:]]
        self.events += events
        self.save_timeline(requests, start_t, events, f"{name} ({row.builder} from {fault.host})", part=part,
                           outage=result)
        self.save_json(self.trial_file("attack", "json", part).name, sent)

        fw_delta = {lb: after_attack["firewall_dropped"][lb] - before["firewall_dropped"][lb]
                    + after_attack["vrrp_dropped"][lb] - before["vrrp_dropped"][lb] for lb in self.site.lbs}
        tcp_delta = {h: {k: v - before["tcp"][h].get(k, 0) for k, v in after_attack["tcp"][h].items()
                         if v - before["tcp"][h].get(k, 0)} for h in after_attack["tcp"]}
        affected = {"failed_requests": result["failed_requests"] > 0, "vip_stolen": bool(holder_changed or poisoned)}
        return {
            "attack": name, "address": fault.address, "host": fault.host, "victim": self.victim,
            "garp_refresh": garp_refresh(self.site.services.keepalived),
            "command": fault.command_line(), "affected": any(affected[key] for key in row.affected),
            "affected_means": list(row.affected),
            "sent": {"counts": sent.get("counts"), "fields": sent.get("fields"), "stopped_by": sent.get("stopped_by"),
                     "error": sent.get("error"), "first_t": start_t, "last_t": end_of_sending,
                     "startup_s": round(start_t - fault.injected_at, 3),
                     "reaction_ms_median": _median([p.get("reaction_ms") for p in sent.get("packets", [])
                                                    if isinstance(p, dict)])},
            "failed_requests": result["failed_requests"], "outage_ms": result["outage_ms"],
            "served_again_after_last_packet_ms": served_again_after(requests, end_of_sending),
            "requests": len(requests), "errors": result["errors"], "bursts": result["bursts"],
            "not_recovered": result["not_recovered"],
            "vip_stolen": bool(holder_changed or poisoned),
            "vip_holder_changed": holder_changed, "vip_unheld_samples": len(unheld),
            "vip_holders_before": before["vip_holders"],
            "vip_holder_changes": [{"t_ms": _rel(t, start_t), "holders": list(h)} for t, h in holder_changes],
            "victim_arp_before": before["victim_arp"], "victim_arp_after_attack": after_attack["victim_arp"],
            "victim_arp_after_recovery": after_recovery["victim_arp"],
            "victim_arp_changes": [{"t_ms": _rel(t, start_t), "mac": m, "owner": observe.host_of_mac(self.site.plan, m)}
                                   for t, m in arp_changes],
            "arp_poisoned": bool(poisoned),
            "arp_poisoned_ms": (round((poison_end - poisoned[0]["t"]) * 1000) if poisoned and poison_end else None),
            "arp_self_healed": bool(poisoned) and poison_end is not None,
            "vrrp_events": [{"t_ms": _rel(e["t"], start_t), "host": e["host"], "state": e["state"],
                             "priority": e.get("priority")} for e in vrrp],
            "vrrp_state_changes": len(vrrp),
            "vrrp_changes_before_first_packet": [{"t_ms": _rel(e["t"], start_t), "host": e["host"],
                                                  "state": e["state"]} for e in earlier],
            "firewall_dropped_delta": fw_delta,
            "edge_guards": self.site.topology.controller.edge_guards,
            "guard_dropped_delta": after_attack["guard_dropped"] - before["guard_dropped"],
            "syn_recv_before": before["syn_recv"], "syn_recv_after_attack": after_attack["syn_recv"],
            "tcp_counters_delta": tcp_delta,
            "keepalived_log": self.keepalived_lines(before["keepalived_log_offset"]),
            "samples": len(good), "settled_before_recovery": settled,
            "recovery": recovery, "vip_holders_after_recovery": after_recovery["vip_holders"],
        }

    def run_attack_undisturbed(self, name: str, index: int) -> dict:
        """One attack, judged on a site that did not move by itself (moved_by_itself): a disturbed
        attempt is kept (in `disturbed_attempts`, with why and what happened) and the attack is
        run again, at most ATTEMPTS times in all; the last attempt stands whatever happened, so a
        site that never keeps still shows it."""
        disturbed = []
        for attempt in range(self.ATTEMPTS):
            if attempt:
                with self.journal.step(f"trial {index}: steady state before {name} again") as step:
                    step.detail = self.wait_steady_state()
            result = self.run_attack(name, index, attempt)
            why = moved_by_itself(result)
            if why is None or attempt == self.ATTEMPTS - 1:
                break
            disturbed.append({"why": why, "vrrp_changes_before_first_packet": result["vrrp_changes_before_first_packet"],
                              "vrrp_events": result["vrrp_events"], "what_happened": describe(result)})
        return {**result, "disturbed_attempts": disturbed}

    def run_trial(self, index: int) -> dict:
        attacks = {}
        for n, name in enumerate(self.attacks):
            if n:
                with self.journal.step(f"trial {index}: steady state before {name}") as step:
                    step.detail = self.wait_steady_state()
            with self.journal.step(f"trial {index}: attack {name}") as step:
                attacks[name] = self.run_attack_undisturbed(name, index)
                step.detail = {k: attacks[name][k] for k in ("failed_requests", "vip_stolen", "vrrp_state_changes")}
        flat = {f"{name}_failed_requests": a["failed_requests"] for name, a in attacks.items()}
        return {**flat, "vip_stolen_by": [name for name, a in attacks.items() if a["vip_stolen"]],
                "what_happened": {name: describe(a) for name, a in attacks.items()}, "attacks": attacks}

    def summarize(self, trials: list[dict]) -> dict:
        metrics: dict = {}
        per_attack = {}
        for name in ATTACKS:
            runs = [t["attacks"][name] for t in trials if name in t.get("attacks", {})]
            if not runs:
                continue
            failed = analysis.summarize([r["failed_requests"] for r in runs])
            metrics[f"{name}_failed_requests"] = failed
            per_attack[name] = {
                "failed_requests_median": failed["median"],
                "outage_ms": analysis.summarize([r["outage_ms"] for r in runs]),
                "served_again_after_last_packet_ms": analysis.summarize(
                    [r["served_again_after_last_packet_ms"] for r in runs
                     if r.get("served_again_after_last_packet_ms") is not None]),
                "vip_ever_stolen": any(r["vip_stolen"] for r in runs),
                "ever_affected": any(r["affected"] for r in runs),
                "vrrp_state_changes": analysis.summarize([r["vrrp_state_changes"] for r in runs]),
                "firewall_dropped_delta": {lb: analysis.summarize([r["firewall_dropped_delta"][lb] for r in runs])["median"]
                                           for lb in runs[0]["firewall_dropped_delta"]},
                "guard_dropped_median": analysis.summarize([r.get("guard_dropped_delta", 0) for r in runs])["median"],
                "what_happened": [describe(r) for r in runs],
            }
        metrics["vip_stolen_by"] = [n for n, a in per_attack.items() if a["vip_ever_stolen"]]
        metrics["attacks"] = per_attack
        return metrics


def served_again_after(requests, t: float) -> float | None:
    """ms from `t` (the attack's last packet) to the first request sent after it that succeeded:
    how long the last forged packet kept hurting (None if nothing was sent after it)."""
    after = sorted((r for r in requests if r.sent >= t), key=lambda r: r.sent)
    if not after:
        return None
    first_ok = next((r for r in after if r.ok), None)
    return None if first_ok is None else round((first_ok.sent - t) * 1000, 1)


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


def moved_by_itself(a: dict) -> str | None:
    """Why VRRP's state changes in an attempt are not the attack's doing (None: they may be):
    - a change before the attack's first packet;
    - forged adverts that no balancer's keepalived heard (no advert of the forged priority in its
      log), and a backup that took over because it missed its peer's adverts (keepalived's
      "Receive advertisement timeout"): with sub-second adverts a loaded 2-core machine sometimes
      delays the peer's adverts past the master-down interval by itself (a finding, reported).
    Only VRRP attacks are judged by the second rule: any other attack may itself be the load that
    delayed the adverts (a SYN flood), and that stays its result."""
    if a["vrrp_changes_before_first_packet"]:
        return "VRRP changed state before the attack's first packet"
    logs = a["keepalived_log"].values()
    if (a["attack"].startswith("vrrp") and a["vrrp_events"] and not any(v["forged_advert_heard"] for v in logs)
            and any(v["advert_timeout"] for v in logs)):
        return ("a backup missed its peer's adverts and took over, while no keepalived heard a forged advert "
                "(the site moved by itself)")
    return None


def describe(a: dict) -> str:
    """What the system did, in words, from one attack's metrics."""
    counts = a["sent"].get("counts") or {}
    failed = f"{a['failed_requests']} of {a['requests']} probe requests failed"
    if a["failed_requests"]:
        failed += f" (outage {a['outage_ms']:.0f} ms, {', '.join(f'{k} {v}' for k, v in a['errors'].items())})"
    def changes(events) -> str:
        return ", ".join(f"{e['host']} {e['state']} at {e['t_ms']:+.0f} ms" for e in events)

    vrrp = changes(a["vrrp_events"]) or "no VRRP state change"
    if a.get("vrrp_changes_before_first_packet"):
        vrrp += f" (before the first packet, not the attack's doing: {changes(a['vrrp_changes_before_first_packet'])})"
    drops = ", ".join(f"{lb} +{n}" for lb, n in a["firewall_dropped_delta"].items())
    if a.get("edge_guards"):
        drops += f"; the fabric's edge guards dropped {a.get('guard_dropped_delta', 0)}"
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
        guarded = (f"the fabric's edge guards dropped {a.get('guard_dropped_delta', 0)}; " if a.get("edge_guards")
                   else "no edge guards; ")
        return (f"{counts.get('garps', 0)} gratuitous ARPs claiming the VIP: {guarded}the victim's ARP entry for the VIP "
                f"pointed to {arp or 'nothing'}; {healed}; {vrrp}, keepalived sent {announced} gratuitous ARPs "
                f"meanwhile ({a.get('garp_refresh') or 'on becoming MASTER and 5 s later only'}); {failed}.")
    if name == "synflood":
        lb_tcp = {h: {k.split('.')[-1]: v for k, v in c.items() if "Syncookies" in k or "Listen" in k or "ReqQ" in k}
                  for h, c in tcp.items() if h != a["victim"]}
        return (f"{counts.get('syns', 0)} SYNs at {counts.get('achieved_rate_per_s')} /s from "
                f"{(a['sent'].get('fields') or {}).get('sources')} to VIP:443; half-open connections (SYN_RECV) "
                f"after the burst {a['syn_recv_after_attack']}; LB kernel counters {lb_tcp}; {failed}.")
    return failed
