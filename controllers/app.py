"""Thin os-ken OpenFlow 1.3 app around ``controllers.fabric.Fabric``.

It only translates: switch events -> Fabric calls, and ``Fabric.sync()`` deltas -> OFPFlowMod
messages followed by a barrier. No forwarding decision is taken here.

    switch --(features/port-desc, port-status, packet-in)--> FabricController --> Fabric
    switch <--(group add-or-modify..., OFPFC_ADD..., [barrier], OFPFC_DELETE_STRICT..., barrier)--
                                                                                   Fabric.sync()

Packet-ins come from the learning table's miss entry (table 1, after the edge guards of table
0), whose packets also continue to the forwarding table, so the controller never sends
packet-outs: it learns the source and installs flows, that is all.

Control-channel requests (partition, heal, status, role, reach; see ``controllers.control``) arrive from the
launcher's socket thread through ``control_request()``, which queues an ``EventControl`` on this
app's event loop, so the Fabric is only ever touched from that one thread.
``controllers.fabric.control()`` decides; the answer is sent once the barrier after the flow-mods
comes back from every switch, and the journal gets "partition_installed"/"partition_removed".

Roles (controllers/roles.py): on every switch connection the app first asks the switch's
current generation id (a NOCHANGE role request), then requests its own role: MASTER with its
claimed generation, or SLAVE. Only a confirmed MASTER wipes and programs a switch. With a peer
instance (HATESTBED_PEER), a heartbeat (controllers/peer.py) watches it; when the MASTER peer is
gone the standby claims MASTER with a newer generation and *adopts* the switches instead of
wiping them: it reads each switch's learning table (flow stats) to know the hosts, then
overwrites every entry and group in place, so forwarding never stops.

    standby ── peer gone ──▶ claim (generation g+1) ── ROLE MASTER ──▶ every switch
            ◀── role reply ── flow stats (table 1) ──▶ learn hosts ──▶ Fabric.sync() (adds only)

Configuration comes from the environment (set by ``controllers.launch``):
  HATESTBED_FABRIC    path of the fabric JSON file (required)
  HATESTBED_EVENTS    path of a JSONL event log to append to (optional)
  HATESTBED_PEER      the peer instance's control socket (optional: redundant controllers)
  HATESTBED_INSTANCE  this instance's name in the journal (optional)
"""

from __future__ import annotations

import itertools
import json
import os
import queue
import threading
import time

from os_ken.base import app_manager
from os_ken.controller import event, ofp_event
from os_ken.controller.handler import DEAD_DISPATCHER, MAIN_DISPATCHER, set_ev_cls
from os_ken.ofproto import ofproto_v1_3

from controllers.fabric import PRIO_HOST_SRC, TABLE_LEARN, Fabric, FabricError, FlowSpec, LinkChange, control
from controllers.fastfailover import IN_PORT, GroupSpec
from controllers.peer import PeerMonitor
from controllers.roles import MASTER, RoleState, newer

ENV_FABRIC = "HATESTBED_FABRIC"
ENV_EVENTS = "HATESTBED_EVENTS"
ENV_PEER = "HATESTBED_PEER"
ENV_INSTANCE = "HATESTBED_INSTANCE"


class EventLog:
    """Append-only JSONL log: one {"t": unix time, "event": name, ...} object per line,
    flushed at once (experiments read it while the controller runs)."""

    def __init__(self, path: str | None):
        self._fh = open(path, "a", encoding="utf-8") if path else None
        self._lock = threading.Lock()

    def write(self, event: str, t: float | None = None, **fields) -> None:
        if self._fh is None:
            return
        record = {"t": time.time() if t is None else t, "event": event, **fields}
        line = json.dumps(record, sort_keys=False, default=str)
        with self._lock:
            self._fh.write(line + "\n")
            self._fh.flush()

    def close(self) -> None:
        with self._lock:
            if self._fh is not None:
                self._fh.close()
                self._fh = None


def port_is_up(ofp, desc) -> bool:
    """Carrier present and not administratively down."""
    return not (desc.state & ofp.OFPPS_LINK_DOWN) and not (desc.config & ofp.OFPPC_PORT_DOWN)


def flow_mod(dp, f: FlowSpec, command):
    """OFPFlowMod for one FlowSpec: apply-actions (outputs) + goto-table instructions."""
    ofp, parser = dp.ofproto, dp.ofproto_parser
    actions, inst = [], []
    goto = None
    for action in f.actions:
        if action[0] == "output":
            actions.append(parser.OFPActionOutput(action[1]))
        elif action[0] == "group":
            actions.append(parser.OFPActionGroup(action[1]))
        elif action[0] == "controller":
            actions.append(parser.OFPActionOutput(ofp.OFPP_CONTROLLER, action[1]))
        elif action[0] == "goto":
            goto = action[1]
        else:
            raise ValueError(f"unknown action {action!r} in {f}")
    if command == ofp.OFPFC_ADD:
        if actions:
            inst.append(parser.OFPInstructionActions(ofp.OFPIT_APPLY_ACTIONS, actions))
        if goto is not None:
            inst.append(parser.OFPInstructionGotoTable(goto))
    return parser.OFPFlowMod(
        dp, table_id=f.table, command=command, priority=f.priority,
        match=parser.OFPMatch(**f.match), instructions=inst,
        buffer_id=ofp.OFP_NO_BUFFER, out_port=ofp.OFPP_ANY, out_group=ofp.OFPG_ANY)


# Open vSwitch's "add, or modify if it exists" group command (an extension it accepts in
# OpenFlow 1.1-1.4): a controller never has to know whether a group is already there.
OFPGC_ADD_OR_MOD = 0x8000


def group_mod(dp, g: GroupSpec):
    """OFPGroupMod (add or modify) for one fast-failover GroupSpec."""
    ofp, parser = dp.ofproto, dp.ofproto_parser
    buckets = [
        parser.OFPBucket(watch_port=watch, watch_group=ofp.OFPG_ANY, actions=[
            parser.OFPActionOutput(ofp.OFPP_IN_PORT if out == IN_PORT else out)])
        for watch, out in g.buckets
    ]
    return parser.OFPGroupMod(dp, command=OFPGC_ADD_OR_MOD, type_=ofp.OFPGT_FF, group_id=g.group_id,
                              buckets=buckets)


class EventControl(event.EventBase):
    """A control-channel request; ``reply(dict)`` answers it (called once)."""

    def __init__(self, request, reply):
        super().__init__()
        self.request = request
        self.reply = reply


class EventPeer(event.EventBase):
    """One heartbeat on the peer instance: its answer (None if none), whether it counts as gone,
    and whether its connection closed (the process died) rather than fell silent."""

    def __init__(self, answer: dict | None, gone: bool, closed: bool):
        super().__init__()
        self.answer = answer
        self.gone = gone
        self.closed = closed


_REASONS = {
    ofproto_v1_3.OFPPR_ADD: "add",
    ofproto_v1_3.OFPPR_DELETE: "delete",
    ofproto_v1_3.OFPPR_MODIFY: "modify",
}


class FabricController(app_manager.OSKenApp):
    # NB: OSKenApp uses self.events for its own event queue; our log is self.event_log.
    OFP_VERSIONS = [ofproto_v1_3.OFP_VERSION]

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        path = os.environ.get(ENV_FABRIC)
        if not path:
            raise RuntimeError(f"{ENV_FABRIC} is not set (start with python -m controllers.launch)")
        self.fabric = Fabric.from_file(path)
        self.event_log = EventLog(os.environ.get(ENV_EVENTS))
        self.instance = os.environ.get(ENV_INSTANCE, "controller")
        self.datapaths = {}  # dpid -> Datapath in MAIN state
        self.confirmed: dict[int, str] = {}  # dpid -> role the switch confirmed for us
        self._fresh: set[int] = set()  # connected since the last confirmation: wipe when MASTER
        self._adopting: set[int] = set()  # takeover: waiting for the switch's flow stats
        self._asking: set[int] = set()  # waiting for the answer to "which generation?"
        self._takeover: dict | None = None  # the claim in progress (start time, generation)
        self.roles = RoleState()
        self.peer: PeerMonitor | None = None
        peer_path = os.environ.get(ENV_PEER)
        if peer_path:
            self.peer = PeerMonitor(peer_path, lambda *beat: self.send_event(self.name, EventPeer(*beat)))
            answer = self.peer.ask_once()
            if answer is not None:
                self.roles.saw(int(answer.get("generation", 0)))
        else:
            answer = None
        if answer is not None and answer.get("role") == MASTER:
            self.logger.info("peer %s is MASTER (generation %s): starting as standby", peer_path,
                             answer.get("generation"))
        else:
            self.roles.claim()
        self.event_log.write("instance_started", instance=self.instance, role=self.roles.role,
                             generation=self.roles.generation, peer=peer_path)
        if self.peer is not None:
            self.peer.start()
        # Barrier bookkeeping, to log when a batch of flow-mods is in place on every switch.
        self._batch_ids = itertools.count(1)
        self._batches = {}  # batch id -> dict
        self._barriers = {}  # (dpid, xid) -> batch id
        self.logger.info(
            "fabric %s: %d switches, %d links", path, len(self.fabric.dpids), len(self.fabric.links)
        )

    # ---- switch connection ----

    @set_ev_cls(ofp_event.EventOFPStateChange, [MAIN_DISPATCHER, DEAD_DISPATCHER])
    def _state_change(self, ev):
        dp = ev.datapath
        t = time.time()
        if ev.state == MAIN_DISPATCHER:
            # MAIN is reached after os-ken's own features + port-desc exchange, so dp.ports
            # is filled: wiping and installing here sees the ports (edge ports for flooding,
            # ISL ports that went down while the switch was away).
            dpid = dp.id
            if not self.fabric.knows(dpid):
                self.logger.warning("switch dpid %s is not in the fabric: ignored", dpid)
                return
            ofp = dp.ofproto
            if dpid in self.datapaths:  # reconnected before the old connection died
                self._drop_barriers_of(dpid)
            self.datapaths[dpid] = dp
            self.confirmed.pop(dpid, None)
            self._fresh.add(dpid)
            ports = {no: port_is_up(ofp, desc) for no, desc in list(dp.ports.items())}
            changes = self.fabric.set_ports(dpid, ports)
            self.logger.info("switch %s (dpid %d) connected, ports %s",
                             self.fabric.name_of(dpid), dpid, sorted(ports))
            self.event_log.write("switch_connected", t=t, dpid=dpid,
                                 switch=self.fabric.name_of(dpid), ports=sorted(ports))
            self._log_link_changes(changes, t)
            # Programming waits for the switch to confirm our role (_role_reply).
            self._ask_generation(dp)
        elif ev.state == DEAD_DISPATCHER:
            dpid = dp.id
            if dpid is None or self.datapaths.get(dpid) is not dp:
                return  # never reached MAIN, or an older connection of a reconnected switch
            del self.datapaths[dpid]
            self.confirmed.pop(dpid, None)
            self._asking.discard(dpid)
            self._fresh.discard(dpid)
            self._adopting.discard(dpid)
            self.fabric.switch_disconnected(dpid)
            self._drop_barriers_of(dpid)
            self.logger.warning("switch %s (dpid %d) disconnected", self.fabric.name_of(dpid), dpid)
            self.event_log.write("switch_disconnected", t=t, dpid=dpid,
                                 switch=self.fabric.name_of(dpid))

    def _current(self, dp) -> bool:
        """A message from the switch's current connection (not an older one of a reconnected
        switch, nor one that never reached MAIN)."""
        return self.datapaths.get(dp.id) is dp

    # ---- roles ----

    def _ask_generation(self, dp):
        self._asking.add(dp.id)
        parser = dp.ofproto_parser
        dp.send_msg(parser.OFPRoleRequest(dp, dp.ofproto.OFPCR_ROLE_NOCHANGE, 0))

    def _request_role(self, dp):
        ofp, parser = dp.ofproto, dp.ofproto_parser
        role = ofp.OFPCR_ROLE_MASTER if self.roles.is_master else ofp.OFPCR_ROLE_SLAVE
        dp.send_msg(parser.OFPRoleRequest(dp, role, self.roles.generation))

    @set_ev_cls(ofp_event.EventOFPRoleReply, MAIN_DISPATCHER)
    def _role_reply(self, ev):
        t = time.time()
        msg, dp = ev.msg, ev.msg.datapath
        if not self._current(dp):
            return
        dpid, ofp = dp.id, dp.ofproto
        if dpid in self._asking:
            # The answer to the NOCHANGE question: the switch's newest generation id.
            self._asking.discard(dpid)
            if self.roles.is_master and newer(msg.generation_id, self.roles.generation):
                # A dead instance (a previous life of ours) claimed later: claim newer still.
                self.roles.saw(msg.generation_id)
                self.roles.claim()
                for other in list(self.confirmed):
                    self._request_role(self.datapaths[other])
            else:
                self.roles.saw(msg.generation_id)
            self._request_role(dp)
            return
        role = MASTER if msg.role == ofp.OFPCR_ROLE_MASTER else "standby"
        if self.confirmed.get(dpid) == role:
            return
        self.confirmed[dpid] = role
        self.event_log.write("role", t=t, instance=self.instance, dpid=dpid, switch=self.fabric.name_of(dpid),
                             role=role, generation=msg.generation_id)
        self.logger.info("%s: %s for %s (generation %d)", self.instance, role, self.fabric.name_of(dpid),
                         msg.generation_id)
        if role != MASTER:
            self._fresh.discard(dpid)  # programmed by the master: a later takeover adopts it
            return
        if dpid in self._fresh:
            # A (re)connected switch: start from empty tables, as a lone controller does.
            self._fresh.discard(dpid)
            self._wipe(dp)
            self.fabric.switch_connected(dpid)
            self._push("switch_connected", t, dpid=dpid)
        else:
            self._adopt(dp)
        self._check_takeover(t)

    def _adopt(self, dp):
        """Takeover: read the switch's learning table for its hosts before programming it."""
        ofp, parser = dp.ofproto, dp.ofproto_parser
        self._adopting.add(dp.id)
        dp.send_msg(parser.OFPFlowStatsRequest(dp, 0, TABLE_LEARN, ofp.OFPP_ANY, ofp.OFPG_ANY, 0, 0,
                                               parser.OFPMatch()))

    @set_ev_cls(ofp_event.EventOFPFlowStatsReply, MAIN_DISPATCHER)
    def _flow_stats(self, ev):
        t = time.time()
        msg, dp = ev.msg, ev.msg.datapath
        dpid = dp.id
        if dpid not in self._adopting or not self._current(dp):
            return
        learned = 0
        for stat in msg.body:
            if stat.priority == PRIO_HOST_SRC and "in_port" in stat.match and "eth_src" in stat.match:
                out = self.fabric.learn(dpid, stat.match["in_port"], stat.match["eth_src"])
                learned += out.changed
        if msg.flags & dp.ofproto.OFPMPF_REPLY_MORE:
            return
        self._adopting.discard(dpid)
        # Nothing is wiped: every desired entry is re-added (OFPFC_ADD overwrites in place) and
        # every group added-or-modified; entries only the old master knew stay until replaced.
        self.fabric.switch_connected(dpid)
        self.event_log.write("switch_adopted", t=t, instance=self.instance, dpid=dpid,
                             switch=self.fabric.name_of(dpid), hosts_learned=learned)
        self._push("takeover", t, dpid=dpid)

    def _check_takeover(self, t: float):
        claim = self._takeover
        if claim is None or any(self.confirmed.get(d) != MASTER for d in self.fabric.dpids):
            return  # not yet MASTER of every switch of the fabric
        self._takeover = None
        self.event_log.write("takeover_complete", t=t, instance=self.instance, generation=claim["generation"],
                             t_claim=claim["t"], ms_since_claim=round((t - claim["t"]) * 1000, 3),
                             switches=[self.fabric.name_of(d) for d in sorted(self.datapaths)])
        self.logger.warning("%s is MASTER of every switch, %.1f ms after the claim", self.instance,
                            (t - claim["t"]) * 1000)

    @set_ev_cls(EventPeer)
    def _peer_beat(self, ev):
        answer = ev.answer
        if answer is not None:
            peer_generation = int(answer.get("generation", 0))
            if self.roles.is_master and answer.get("role") == MASTER and newer(peer_generation, self.roles.generation):
                self._step_down(f"peer is MASTER with generation {peer_generation}", peer_generation)
                return
            if not self.roles.is_master:
                self.roles.saw(peer_generation)
        if ev.gone and not self.roles.is_master:
            self._claim("the peer's control connection closed" if ev.closed
                        else f"the peer missed {self.peer.watch.misses} heartbeats")

    def _claim(self, reason: str):
        t = time.time()
        generation = self.roles.claim()
        self._takeover = {"t": t, "generation": generation}
        self.event_log.write("takeover_started", t=t, instance=self.instance, generation=generation, reason=reason)
        self.logger.warning("%s claims MASTER (generation %d): %s", self.instance, generation, reason)
        for dpid in list(self.datapaths):
            self.confirmed.pop(dpid, None)
            self._request_role(self.datapaths[dpid])
        self._check_takeover(t)

    def _step_down(self, reason: str, generation: int | None = None):
        if not self.roles.is_master:
            return
        self.roles.step_down(generation)
        self.event_log.write("stepped_down", instance=self.instance, reason=reason,
                             generation=self.roles.generation)
        self.logger.warning("%s steps down to standby: %s", self.instance, reason)
        for dpid in list(self.datapaths):
            self.confirmed.pop(dpid, None)
            self.fabric.switch_disconnected(dpid)  # no more pushes from here
            self._ask_generation(self.datapaths[dpid])

    def _wipe(self, dp):
        ofp, parser = dp.ofproto, dp.ofproto_parser
        dp.send_msg(parser.OFPFlowMod(
            dp, table_id=ofp.OFPTT_ALL, command=ofp.OFPFC_DELETE,
            out_port=ofp.OFPP_ANY, out_group=ofp.OFPG_ANY, match=parser.OFPMatch()))
        dp.send_msg(parser.OFPGroupMod(dp, command=ofp.OFPGC_DELETE, group_id=ofp.OFPG_ALL))
        # The deletes must be done before the adds that follow.
        dp.send_msg(parser.OFPBarrierRequest(dp))

    # ---- port status ----

    @set_ev_cls(ofp_event.EventOFPPortStatus, MAIN_DISPATCHER)
    def _port_status(self, ev):
        t = time.time()
        msg, dp = ev.msg, ev.msg.datapath
        if not self._current(dp):
            return
        dpid, ofp = dp.id, dp.ofproto
        desc = msg.desc
        reason = _REASONS.get(msg.reason, str(msg.reason))
        deleted = msg.reason == ofp.OFPPR_DELETE
        up = not deleted and port_is_up(ofp, desc)
        kind = self.fabric.port_kind(dpid, desc.port_no)
        self.event_log.write("port_status", t=t, dpid=dpid, switch=self.fabric.name_of(dpid),
                             port=desc.port_no, kind=kind, reason=reason, up=up,
                             state=desc.state, config=desc.config)
        self.logger.info("port-status %s:%d (%s) %s up=%s state=%#x config=%#x",
                         self.fabric.name_of(dpid), desc.port_no, kind, reason, up,
                         desc.state, desc.config)
        changes = self.fabric.set_port_state(dpid, desc.port_no, up, deleted=deleted)
        self._log_link_changes(changes, t)
        self._push("link_change" if changes else "port_status", t, dpid=dpid, port=desc.port_no)

    def _log_link_changes(self, changes: list[LinkChange], t: float):
        for ch in changes:
            name = "link_up" if ch.up else "link_down"
            self.logger.warning("%s %s", name, ch.link)
            self.event_log.write(name, t=t, **ch.link.as_dict())

    # ---- learning ----

    @set_ev_cls(ofp_event.EventOFPPacketIn, MAIN_DISPATCHER)
    def _packet_in(self, ev):
        t = time.time()
        msg = ev.msg
        dp = msg.datapath
        if self.datapaths.get(dp.id) is not dp or len(msg.data) < 14 or self.confirmed.get(dp.id) != MASTER:
            return  # only the MASTER learns (a switch may still treat us as EQUAL while roles settle)
        in_port = msg.match.get("in_port")
        if in_port is None:
            return
        out = self.fabric.learn(dp.id, in_port, bytes(msg.data[6:12]))
        if out.kind == "new":
            self.logger.info("host %s learned at %s:%d", out.mac, self.fabric.name_of(dp.id), in_port)
            self.event_log.write("host_learned", t=t, mac=out.mac, dpid=dp.id,
                                 switch=self.fabric.name_of(dp.id), port=in_port)
        elif out.kind == "moved":
            old_dpid, old_port = out.old
            self.logger.warning("host %s moved %s:%d -> %s:%d", out.mac,
                                self.fabric.name_of(old_dpid), old_port,
                                self.fabric.name_of(dp.id), in_port)
            self.event_log.write("host_moved", t=t, mac=out.mac, dpid=dp.id,
                                 switch=self.fabric.name_of(dp.id), port=in_port,
                                 old_dpid=old_dpid, old_switch=self.fabric.name_of(old_dpid),
                                 old_port=old_port)
        if out.changed:
            self._push("host_" + out.kind, t, mac=out.mac)

    # ---- control channel ----

    def control_request(self, request, timeout: float = 10.0) -> dict:
        """Called from another thread (the launcher's socket): queue the request on this app's
        event loop and wait for its answer."""
        answers = queue.Queue(maxsize=1)

        def reply(answer: dict) -> None:
            try:
                answers.put_nowait(answer)
            except queue.Full:
                pass

        self.send_event(self.name, EventControl(request, reply))
        try:
            return answers.get(timeout=timeout)
        except queue.Empty:
            return {"ok": False, "error": f"no answer from the controller within {timeout:g} s"}

    @set_ev_cls(EventControl)
    def _control(self, ev):
        t = time.time()
        op = ev.request.get("op") if isinstance(ev.request, dict) else None
        if op == "role":
            ev.reply({"ok": True, "op": op, "instance": self.instance, "role": self.roles.role,
                      "generation": self.roles.generation,
                      "switches": {self.fabric.name_of(d): r for d, r in sorted(self.confirmed.items())}})
            return
        if op == "reach":
            self._answer_reach(ev, t)
            return
        if op in ("partition", "heal", "forget") and not self.roles.is_master:
            ev.reply({"ok": False, "error": f"{self.instance} is the standby controller; ask the master"})
            return
        try:
            outcome = control(self.fabric, ev.request)
        except FabricError as exc:
            ev.reply({"ok": False, "error": str(exc)})
            return
        if outcome.event is None:
            ev.reply({**outcome.reply, "t_request": t})
            return

        def done(t_done: float, lost: list[int]) -> None:
            fields = dict(outcome.fields, t_request=t)
            if lost:
                fields["lost_dpids"] = lost
            self.event_log.write(outcome.event, t=t_done, **fields)
            self.logger.info("%s %s", outcome.event, outcome.fields.get("name"))
            ev.reply({**outcome.reply, "t_request": t, "t_installed": t_done,
                      "switches": [self.fabric.name_of(d) for d in sorted(self.datapaths)],
                      "lost_switches": [self.fabric.name_of(d) for d in lost]})

        if not self._push(outcome.event, t, on_done=done, name=outcome.fields.get("name") or outcome.fields.get("mac")):
            done(time.time(), [])  # nothing to send (no switch connected, or no change)

    def _answer_reach(self, ev, t: float) -> None:
        """{"op": "reach"}: can this instance act on its switches NOW? A barrier to every switch
        it is confirmed MASTER for; the answer, once every barrier is back, names the switches
        that answered (a switch that disconnected meanwhile is named lost). A standby, or a
        master with no switch, answers at once with none. A switch that neither answers nor
        disconnects leaves the question unanswered: the asker's timeout says so."""
        dpids = sorted(d for d, role in self.confirmed.items() if role == MASTER and d in self.datapaths)
        base = {"ok": True, "op": "reach", "instance": self.instance, "role": self.roles.role, "t_request": t}
        if not self.roles.is_master or not dpids:
            ev.reply({**base, "answered": [], "lost": []})
            return

        def answered(t_done: float, lost: list[int]) -> None:
            ev.reply({**base, "t_answered": t_done,
                      "answered": [self.fabric.name_of(d) for d in dpids if d not in lost],
                      "lost": [self.fabric.name_of(d) for d in lost]})

        batch_id = next(self._batch_ids)
        pending = set()
        for dpid in dpids:
            dp = self.datapaths[dpid]
            barrier = dp.ofproto_parser.OFPBarrierRequest(dp)
            dp.send_msg(barrier)  # sets barrier.xid
            pending.add((dpid, barrier.xid))
        self._batches[batch_id] = {"cause": "reach", "t_cause": t, "t_sent": time.time(), "count": 0,
                                   "dpids": dpids, "pending": pending, "details": {}, "on_done": answered,
                                   "journal": False}  # a question, not a change: nothing to journal
        for key in pending:
            self._barriers[key] = batch_id

    # ---- pushing flows ----

    def _push(self, cause: str, t_cause: float, on_done=None, **details) -> bool:
        """Send Fabric.sync() to the switches: adds (overwrite in place), a barrier, deletes,
        and a final barrier whose replies mark the batch installed (then ``on_done(t, lost
        dpids)`` is called). False if nothing was sent."""
        deltas = self.fabric.sync()
        if not deltas:
            return False
        batch_id = next(self._batch_ids)
        pending = set()
        count = 0
        for delta in deltas:
            dp = self.datapaths.get(delta.dpid)
            if dp is None:
                continue
            ofp, parser = dp.ofproto, dp.ofproto_parser
            for g in delta.groups:  # groups first: a flow may only point to an existing group
                dp.send_msg(group_mod(dp, g))
            for f in delta.add:
                dp.send_msg(flow_mod(dp, f, ofp.OFPFC_ADD))
            if delta.delete:
                # Make-before-break: the replacements are in place before anything goes.
                dp.send_msg(parser.OFPBarrierRequest(dp))
                for f in delta.delete:
                    dp.send_msg(flow_mod(dp, f, ofp.OFPFC_DELETE_STRICT))
            barrier = parser.OFPBarrierRequest(dp)
            dp.send_msg(barrier)  # sets barrier.xid
            pending.add((delta.dpid, barrier.xid))
            count += delta.count
        t_sent = time.time()
        if not pending:
            return False
        self._batches[batch_id] = {
            "cause": cause, "t_cause": t_cause, "t_sent": t_sent, "count": count,
            "dpids": sorted(d for d, _ in pending), "pending": pending, "details": details,
            "on_done": on_done,
        }
        for key in pending:
            self._barriers[key] = batch_id
        self.logger.debug("batch %d (%s): %d flow-mods to %s", batch_id, cause, count,
                          sorted(d for d, _ in pending))
        return True

    @set_ev_cls(ofp_event.EventOFPBarrierReply, MAIN_DISPATCHER)
    def _barrier_reply(self, ev):
        t = time.time()
        key = (ev.msg.datapath.id, ev.msg.xid)
        batch_id = self._barriers.pop(key, None)
        if batch_id is None:
            return  # the barrier after a wipe or between adds and deletes
        batch = self._batches[batch_id]
        batch["pending"].discard(key)
        if not batch["pending"]:
            self._finish_batch(batch_id, t)

    def _drop_barriers_of(self, dpid: int):
        t = time.time()
        for key in [k for k in self._barriers if k[0] == dpid]:
            batch_id = self._barriers.pop(key)
            batch = self._batches[batch_id]
            batch["pending"].discard(key)
            batch.setdefault("lost", []).append(dpid)
            if not batch["pending"]:
                self._finish_batch(batch_id, t)

    def _finish_batch(self, batch_id: int, t: float):
        batch = self._batches.pop(batch_id)
        fields = {
            "cause": batch["cause"], "count": batch["count"], "dpids": batch["dpids"],
            "t_cause": batch["t_cause"], "t_sent": batch["t_sent"],
            "ms_since_cause": round((t - batch["t_cause"]) * 1000, 3),
            **batch["details"],
        }
        if "lost" in batch:
            fields["lost_dpids"] = batch["lost"]
        if batch.get("journal", True):
            self.event_log.write("flows_installed", t=t, **fields)
            self.logger.info("flows installed (%s): %d flow-mods on %s, %.1f ms after the cause",
                             batch["cause"], batch["count"], batch["dpids"], fields["ms_since_cause"])
        if batch["on_done"] is not None:
            batch["on_done"](t, batch.get("lost", []))

    # ---- diagnostics ----

    @set_ev_cls(ofp_event.EventOFPErrorMsg, MAIN_DISPATCHER)
    def _error(self, ev):
        msg = ev.msg
        ofp = msg.datapath.ofproto
        stale = (msg.type, msg.code) == (ofp.OFPET_ROLE_REQUEST_FAILED, ofp.OFPRRFC_STALE)
        if stale and not self.roles.is_master and self.datapaths.get(msg.datapath.id) is msg.datapath:
            # Our SLAVE request carried a generation the MASTER has since passed: ask again.
            self._ask_generation(msg.datapath)
            return
        if stale or (msg.type, msg.code) == (ofp.OFPET_BAD_REQUEST, ofp.OFPBRC_IS_SLAVE):
            # Another instance became MASTER with a newer generation while we thought we were.
            self.logger.warning("%s: switch %s says another controller is MASTER", self.instance,
                                self.fabric.name_of(msg.datapath.id))
            self._step_down("a switch refused us as MASTER")
            return
        self.logger.error("OpenFlow error from dpid %s: type=%d code=%d", msg.datapath.id,
                          msg.type, msg.code)
