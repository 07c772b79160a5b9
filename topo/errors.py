"""The one base class of every error the testbed raises on purpose.

    TestbedError
      ├─ TopologyError        the topology file (topo/model.py)          → exit 2, bad input
      ├─ PreflightError       the machine is not ready (hatestbed/testbed.py)
      ├─ NotReadyError        a wait passed its deadline (runtime/wait.py)
      ├─ CommandError         a command failed (runtime/command.py)
      ├─ ProcessError         an owned process died or would not start (runtime/processes.py)
      ├─ RunStateError        the run directory (runtime/runstate.py)
      ├─ ControllerError      the controller process or its channel (runtime/controller.py)
      ├─ ServiceError         a daemon (hosts/daemon.py)
      ├─ FaultError           a fault: bad address, cannot inject/recover (experiments/faults/)
      ├─ ProbeError           a probe (experiments/probes.py)
      ├─ ExperimentError      an experiment cannot run here (experiments/base.py)
      └─ SummaryError         a results summary breaks its schema (experiments/report.py)

Entry points (hatestbed/main.py, the CLI) catch TestbedError and print one line; library code
only raises. Standalone programs that run in another process (the controller, the probe client,
the Scapy attack script) keep their own errors: those never cross into the testbed's process.
"""

from __future__ import annotations


class TestbedError(Exception):
    """Something the testbed detected and can say in one line (what, and where)."""

    __test__ = False  # not a pytest test class, despite the name


class BadInputError(TestbedError):
    """The user asked for something that does not exist or cannot be (exit code 2)."""
