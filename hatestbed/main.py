"""The testbed's main program (topo/run.py is the thin file users start): bring the testbed up,
run a mode, always tear it down.

    sudo python3 topo/run.py                   network up, then the testbed CLI (`status`, Mininet commands)
    sudo python3 topo/run.py --smoke           up, health table, down; exit 0 only if all healthy
    sudo python3 topo/run.py --script FILE     up, run CLI commands from FILE, down
    sudo python3 topo/run.py --ui [--script FILE]   also the live dashboard on 127.0.0.1 (address printed)
    sudo python3 topo/run.py --clean           remove what a crashed run left (by its records and bridge tags)
    sudo python3 topo/run.py --experiment NAME|all [--trials N] [--seed S]
                                               scripted failure experiments → results/<time>-<name>/
    sudo python3 topo/run.py --list-experiments
    sudo python3 topo/run.py --list-faults [--topology PATH]   every fault address, no network needed
    sudo python3 topo/run.py --spof [--topology PATH]          static SPOF analysis → results/<time>-spof/
    sudo python3 topo/run.py --check [--topology PATH]         the file, every rendered config and its checker, in seconds
    sudo python3 topo/run.py --topology PATH   use another topology file (default topo/default.yaml)

    preflight ─▶ clean stale ─▶ build ─▶ wait healthy ─▶ mode ─▶ teardown (finally, SIGINT, SIGTERM)

Exit codes: 0 success, 1 the testbed failed or is unhealthy, 2 bad input (arguments, topology file).
Every error the testbed raises on purpose is a TestbedError: caught here, printed as one line.
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
from pathlib import Path

from topo.errors import BadInputError, TestbedError

PROG = "topo/run.py"


# The modes, one of which a command line picks (flag, argparse options, help).
MODES = (
    ("--smoke", {"action": "store_true"},
     "bring the network up, print a health table, tear down; exit 0 only if healthy"),
    ("--script", {"metavar": "FILE"},
     "bring the network up, run testbed CLI commands from FILE (one per line), tear down"),
    ("--clean", {"action": "store_true"},
     "remove the processes, bridges and interfaces recorded by crashed runs, nothing else"),
    ("--experiment", {"metavar": "NAME"},
     "run a failure experiment (or several, comma-separated, or all) and write results/"),
    ("--list-experiments", {"action": "store_true"}, "list the experiments and exit"),
    ("--spof", {"action": "store_true"},
     "predict every single point of failure of the topology (no network) → results/<time>-spof/"),
    ("--list-faults", {"action": "store_true"},
     "list every fault address of the topology (node:, daemon:, link:, ...) and exit"),
    ("--check", {"action": "store_true"},
     "validate the topology, render every daemon's configuration and run its own checker; no network"),
)


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog=PROG, description="High-availability web-infrastructure testbed on Mininet.")
    mode = parser.add_mutually_exclusive_group()
    for flag, options, help_text in MODES:
        mode.add_argument(flag, help=help_text, **options)
    parser.add_argument("--faults", metavar="ADDR,...",
                        help="with --experiment spof_sweep: only these fault addresses (see --list-faults)")
    parser.add_argument("--ui", action="store_true",
                        help="with the CLI (or --script): also serve the live dashboard on 127.0.0.1 and print "
                             "its address; it stops with the testbed")
    parser.add_argument("--capture", action="store_true",
                        help="with --experiment lb_failover: also capture the client's connections with tcpdump "
                             "and measure the outage off the wire")
    parser.add_argument("--modes", metavar="MODE,...",
                        help="with database experiments: only these database modes (galera, semisync, async)")
    parser.add_argument("--ladder", metavar="ADVERT_S/INTER_MS,...",
                        help="with --experiment timer_sweep: the timer settings to try (default 1/2000 ... 0.01/20; "
                             "tuned: the topology's own)")
    parser.add_argument("--loads", metavar="LOAD,...",
                        help="with --experiment timer_sweep: idle, stress or both (default both)")
    parser.add_argument("--soak", metavar="SECONDS",
                        help="with --experiment timer_sweep: the no-fault window per setting (default 30)")
    parser.add_argument("--trials", type=int, default=3, metavar="N", help="trials per experiment (default 3)")
    parser.add_argument("--seed", type=int, default=1, metavar="S",
                        help="seed of the one RNG behind every random choice (default 1)")
    parser.add_argument("--topology", metavar="PATH", help="topology YAML file (default: topo/default.yaml)")
    return parser.parse_args(argv)


def fail(message: str, code: int) -> None:
    print(f"{PROG}: error: {message}", file=sys.stderr)
    sys.exit(code)


class Terminated(BaseException):
    """SIGTERM arrived: unwind to the teardown like Ctrl-C does."""


def _raise_terminated(signum, _frame):
    raise Terminated(signum)


def clean() -> int:
    from runtime.runstate import active_runs, clean_stale

    from runtime.simmachine import simulated_machines

    removed = clean_stale()
    active = active_runs()
    # A simulated machine outlives runs (the suite's testbeds share it): it goes here, unless an
    # active run may be using it.
    if not active:
        for machine in simulated_machines():
            removed += machine.remove()
    for line in removed:
        print(f"removed {line}")
    for run in active:
        print(f"left alone: {run.path} (its topo/run.py is still running; simulated machines kept)")
    if not removed:
        print("nothing to clean")
    return 0


def script_problem(path: Path, topology) -> str | None:
    """Why a --script FILE cannot be run, found before anything starts (None: it can): not a
    readable text file, or a line the CLI would answer with "Unknown command"."""
    if not path.is_file():
        return "no such file"
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        return f"cannot read: {exc.strerror}"
    except UnicodeDecodeError as exc:
        return f"not a text file (byte {exc.start} is not UTF-8): a script holds CLI commands, one per line"
    if "\x00" in text:
        return "not a text file (it holds NUL bytes): a script holds CLI commands, one per line"
    from hatestbed.cli import unknown_script_command

    return unknown_script_command(text, topology)


def main(argv: list[str], provider=None) -> int:
    """topo/run.py's job; `provider`: run it on that provider's testbeds and leave the last one
    running (the test suite), instead of a provider of its own that stops everything at the end."""
    args = parse_args(argv)
    from topo.model import DEFAULT_TOPOLOGY, load_topology

    if args.clean:
        if os.geteuid() != 0:
            fail("must run as root: sudo python3 topo/run.py --clean", 1)
        return clean()
    if args.list_experiments:
        from experiments.registry import discover
        for name, cls in discover().items():
            print(f"{name:<20} {cls.description}" + ("" if cls.in_all else "  (not in all: run by name)"))
        return 0
    if args.trials < 1:
        fail("--trials: must be at least 1", 2)
    if args.ui and any((args.smoke, args.experiment, args.spof, args.check, args.list_faults)):
        fail("--ui: only with the CLI (no mode) or --script: the dashboard runs beside the testbed's CLI", 2)
    experiments = None
    try:
        if args.experiment:
            from experiments.registry import resolve
            try:
                experiments = resolve(args.experiment)
            except TestbedError as exc:
                raise BadInputError(f"--experiment: {exc}") from None
        topology = load_topology(args.topology or DEFAULT_TOPOLOGY)
        options = experiment_options(args, experiments, topology)
    except BadInputError as exc:
        fail(str(exc), 2)
    if args.script:
        problem = script_problem(Path(args.script), topology)
        if problem:
            fail(f"--script: {args.script}: {problem}", 2)
    source = args.topology or str(DEFAULT_TOPOLOGY)
    if not (args.check or args.list_faults):  # --check prints its notes after its checks
        from hatestbed.check import design_notes
        for note in design_notes(topology):
            print(f"note: {source}: {note}", flush=True)
    if args.spof:
        return spof_report(topology)
    if args.check:
        return check_mode(topology, source)
    if args.list_faults:
        from experiments.faults import catalogue_lines
        print("\n".join(catalogue_lines(topology)))
        return 0

    if os.geteuid() != 0:
        fail("must run as root (Mininet needs it): sudo python3 topo/run.py ...", 1)
    if provider is not None:
        return on_shared(provider, topology, experiments, args, options)
    from hatestbed.progress import make_progress
    from hatestbed.provider import TestbedProvider
    from hatestbed.testbed import PreflightError

    provider = TestbedProvider(progress=make_progress(), say=lambda line: print(line, flush=True))
    signal.signal(signal.SIGTERM, _raise_terminated)
    code = 0
    try:
        code = run_job(provider, topology, experiments, args, options)
    except PreflightError as exc:  # nothing was started
        print(f"{PROG}: error: {exc}", file=sys.stderr)
        return 1
    except TestbedError as exc:
        print(f"{PROG}: error: {exc}", file=sys.stderr)
        if provider.last_run_dir:
            print(f"{PROG}: logs in {provider.last_run_dir / 'logs'}", file=sys.stderr)
        code = 1
    except KeyboardInterrupt:
        code = 130
    except Terminated:
        code = 143
    finally:
        # A second Ctrl-C or TERM must not cut the teardown short.
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        testbed = provider.testbed
        for line in provider.close():
            print(f"teardown removed leftover {line}")
        if testbed is not None:
            print(f"testbed down in {testbed.timings.marks['teardown']:.2f} s", flush=True)
    return code


def run_job(provider, topology, experiments, args: argparse.Namespace, options: dict) -> int:
    """The mode on a testbed from `provider`: experiments (a testbed per profile), or the one
    testbed the other modes run on."""
    if experiments is not None:
        return run_experiments(topology, experiments, args, options, provider)
    testbed = provider.acquire(topology)
    print(f"testbed up in {max(testbed.timings.marks.values()):.2f} s "
          f"(run directory {testbed.run_dir.path})", flush=True)
    return run_mode(testbed, args)


def on_shared(provider, topology, experiments, args: argparse.Namespace, options: dict) -> int:
    """The job on a caller's provider (the test suite's, which runs the labs' commands in its own
    process): the testbed stays up for the caller, handed back dirty if the job failed."""
    try:
        code = run_job(provider, topology, experiments, args, options)
    except TestbedError as exc:
        print(f"{PROG}: error: {exc}", file=sys.stderr)
        code = 1
    provider.release(dirty=code != 0)
    return code


def spof_report(topology) -> int:
    """The static SPOF analysis: table on the terminal, spof.json/spof.md/pictures in results/."""
    from experiments import report
    from hatestbed.suite import default_results
    from spof import write_report
    from spof.output import terminal_table

    folder = report.results_dir(default_results(), "spof")
    analysis = write_report(topology, folder)
    print(terminal_table(analysis))
    print(f"report: {folder / 'spof.md'}  (spof.json, topology.png, topology.svg beside it)")
    return 0


def check_mode(topology, source: str) -> int:
    """--check: the topology already loaded and validated; now every daemon's own checker."""
    from hatestbed.check import check_topology, design_notes
    from runtime.text import format_table
    from topo.placement import describe as describe_placement

    if os.geteuid() != 0:
        fail("must run as root (the checkers run in network namespaces): sudo python3 topo/run.py --check", 1)
    results = check_topology(topology)
    print(format_table(["daemon", "checker", "result"],
                       [[r.daemon, r.checker, "ok" if r.ok else "FAILED"] for r in results]))
    bad = [r for r in results if not r.ok]
    if bad:
        fail(f"{source}: {bad[0].daemon}: its configuration fails its checker: {bad[0].detail}"
             + (f" (and {len(bad) - 1} more)" if len(bad) > 1 else ""), 2)
    for note in design_notes(topology):
        print(f"note: {source}: {note}")
    if topology.services.enabled:
        print(f"database tier ({topology.services.mariadb.mode}): {', '.join(topology.database_nodes())}")
    for line in describe_placement(topology.layout):
        print(line)
    print(f"check: {source} is good: {len(results)} configurations rendered and checked, nothing started")
    return 0


def experiment_options(args: argparse.Namespace, experiments, topology) -> dict:
    """Options for the experiments that accept them, checked before anything starts."""
    options = {}
    if args.modes is not None:
        from topo.profiles import DB_MODES

        modes = [m.strip() for m in args.modes.split(",") if m.strip()]
        bad = [m for m in modes if m not in DB_MODES]
        if bad or not modes:
            raise BadInputError(f"--modes: unknown database mode {bad[0] if bad else '(none given)'!r} "
                                f"(one of {', '.join(DB_MODES)})")
        if not experiments or not any(set(cls.profiles) & set(DB_MODES) for cls in experiments):
            raise BadInputError("--modes: only with a database experiment (db_failover, db_crash_lagging, db_partition)")
        options["modes"] = modes
    if getattr(args, "experiment", None) == "all":
        # The main job stays short: the database experiment in the topology's own mode only
        # (unless --modes says otherwise), and server_failover's process crash in its first
        # trial only (each is a Galera rejoin, ~7 s).
        options.setdefault("modes", [topology.services.mariadb.mode])
        options["main_job"] = True
    for key in ("ladder", "loads", "soak"):
        text = getattr(args, key)
        if text is None:
            continue
        if not experiments or any(key not in cls.accepts for cls in experiments):
            raise BadInputError(f"--{key}: only with --experiment timer_sweep")
        from experiments import timer_sweep

        try:
            options[key] = getattr(timer_sweep, f"parse_{key}")(text)
        except ValueError as exc:
            raise BadInputError(f"--{key}: {exc}") from None
    if getattr(args, "capture", False):
        if not experiments or any("capture" not in cls.accepts for cls in experiments):
            raise BadInputError("--capture: only with --experiment lb_failover")
        options["capture"] = True
    if args.faults is None:
        return options
    if not experiments or any("faults" not in cls.accepts for cls in experiments):
        raise BadInputError("--faults: only with an experiment that takes a fault list (--experiment spof_sweep)")
    from experiments.faults import catalogue

    known = {entry.address for entry in catalogue(topology)}
    faults = [a.strip() for a in args.faults.split(",") if a.strip()]
    unknown = [a for a in faults if a not in known]
    if unknown or not faults:
        raise BadInputError(f"--faults: unknown fault address {unknown[0] if unknown else '(none given)'!r} "
                            "(see --list-faults)")
    return {**options, "faults": faults}


def run_experiments(topology, experiments, args: argparse.Namespace, options: dict, provider) -> int:
    """The suite acquires a testbed per profile from `provider` (retimed or rebuilt as the profile
    needs); the caller stops the last one."""
    from hatestbed.suite import headline_table, run_suite

    try:
        summaries = run_suite(topology, experiments, args.trials, args.seed, options=options, provider=provider)
    except KeyboardInterrupt:
        return 130
    except Terminated:
        return 143
    except Exception as exc:  # one line for the user; the journal and logs hold the rest
        print(f"{PROG}: error: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 1
    print(headline_table(summaries))
    for item in summaries:
        print(f"{item['name']}: {item['dir'] / ('index.html' if item['name'] == 'index' else 'report.html')}")
    return 0 if all(s["summary"] is None or s["summary"]["status"] == "passed" for s in summaries) else 1


def run_mode(testbed, args: argparse.Namespace) -> int:
    from hatestbed.cli import TestbedCLI
    from hatestbed.status import checks_table, health_checks, service_checks

    if args.smoke:
        checks = health_checks(testbed) + service_checks(testbed)
        print(checks_table(checks), flush=True)
        healthy = all(check.ok for check in checks)
        print("smoke: healthy" if healthy else "smoke: UNHEALTHY", flush=True)
        return 0 if healthy else 1
    from mininet.log import lg
    lg.ch.setStream(sys.stdout)  # Mininet logs command output to stderr; a CLI user expects stdout
    if not args.ui:
        TestbedCLI(testbed, script=args.script)
        return 0
    from hatestbed.dashboard import Dashboard
    from hatestbed.faultboard import FaultBoard

    board = FaultBoard(testbed)
    dashboard = Dashboard(testbed, board).start()
    try:
        print("\n".join(dashboard.addresses()), flush=True)
        TestbedCLI(testbed, script=args.script, board=board, dashboard=dashboard)
    finally:
        dashboard.stop()
    return 0
