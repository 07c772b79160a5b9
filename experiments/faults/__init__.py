"""Reversible faults with text addresses: the one vocabulary of experiments, the CLI and the SPOF sweep.

    base.py          Fault (address, inject, recover, injected_at, recovered_at, describe), FaultError
    node.py          node:<host>, node:<switch> NodeCrash, SwitchCrash; processes:<host> ProcessCrash
    daemon.py        daemon:<daemon>@<host>    DaemonKill, DaemonFreeze
    link.py          link:<a>-<b>              LinkDown
    partition.py     partition:<a>|<b>         Partition
    controller.py    controller                ControllerStop
    attacks.py       attack:<name>             the declared attack rows; attack.py runs one
    scapy_attacks.py the standalone packet builders, run inside the attacking host
    catalogue.py     catalogue(topology) → every address with a description; parse(address, testbed)
"""

from experiments.faults.attack import Attack
from experiments.faults.attacks import ATTACKS, AttackRow
from experiments.faults.base import Fault, FaultError, recover_side_by_side
from experiments.faults.catalogue import Entry, catalogue, catalogue_lines, parse
from experiments.faults.controller import ControllerStop
from experiments.faults.daemon import DaemonFreeze, DaemonKill
from experiments.faults.link import LinkDown
from experiments.faults.node import NodeCrash, ProcessCrash, SwitchCrash
from experiments.faults.partition import Partition

FAULTS: dict[str, type[Fault]] = {cls.kind: cls for cls in (
    NodeCrash, ProcessCrash, SwitchCrash, DaemonKill, DaemonFreeze, LinkDown, Partition, ControllerStop, Attack)}

__all__ = ["ATTACKS", "Attack", "AttackRow", "ControllerStop", "DaemonFreeze", "DaemonKill", "Entry", "FAULTS",
           "Fault", "FaultError", "LinkDown", "NodeCrash", "Partition", "ProcessCrash", "SwitchCrash", "catalogue", "catalogue_lines", "parse",
           "recover_side_by_side"]
