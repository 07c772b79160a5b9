"""Run the fabric controller: os-ken in-process with ``controllers.app``.

    python -m controllers.launch --fabric PATH [--listen-host 127.0.0.1]
                                 [--listen-port 6653] [--events PATH] [--control PATH]
                                 [--name controller] [--peer-control PATH] [--log-level INFO]

``--peer-control PATH`` names the other instance's control socket: the two instances are then a
MASTER/standby pair (controllers/roles.py, controllers/peer.py); without it this instance is
the only controller and claims MASTER at once.

``--control PATH`` opens the control channel (controllers/control.py): a UNIX socket (mode 0600)
taking one JSON request per line, {"op": "partition" | "heal" | "status", ...}, forwarded to the
running app (``FabricController.control_request``).

os-ken 4.x has no ``osken-manager``: configure ``os_ken.cfg.CONF`` and call
``AppManager.run_apps`` ourselves. Logs go to stderr (the caller redirects them).

Exit codes: 0 after SIGTERM/SIGINT, 2 for bad arguments (unreadable or invalid fabric file,
unwritable events file, control socket that cannot be opened), 1 if the listen port is taken or
os-ken stops by itself.

Shutdown: os-ken's native threads hub cannot stop its threads (they block in accept/recv, and
``run_apps`` calls ``.kill()`` on plain threads, raising AttributeError). So os-ken runs in a
daemon thread, the main thread waits for a signal, flushes the logs and leaves with
``os._exit``. Switches keep their flows (fail-mode secure) and are wiped on reconnect.
"""

from __future__ import annotations

import argparse
import logging
import os
import signal
import socket
import sys
import threading

from controllers.app import ENV_EVENTS, ENV_FABRIC, ENV_INSTANCE, ENV_PEER
from controllers.control import ControlError, ControlServer
from controllers.fabric import Fabric

PROG = "controllers.launch"
APP_NAME = "FabricController"  # os-ken registers an app under its class name
CONTROL_TIMEOUT = 10.0  # seconds a control request may wait for its flows to be in place


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog=f"python -m {PROG}", description=__doc__.splitlines()[0])
    p.add_argument("--fabric", required=True, help="fabric JSON file (switches, links)")
    p.add_argument("--listen-host", default="127.0.0.1")
    p.add_argument("--listen-port", type=int, default=6653)
    p.add_argument("--events", help="append JSONL events to this file")
    p.add_argument("--control", help="serve the JSON-lines control channel on this UNIX socket path")
    p.add_argument("--name", default="controller", help="this instance's name in the journal and logs")
    p.add_argument("--peer-control", help="the peer instance's control socket (redundant controllers)")
    p.add_argument("--log-level", default="INFO",
                   choices=["DEBUG", "INFO", "WARNING", "ERROR"])
    return p.parse_args(argv)


def _error(msg: str) -> None:
    print(f"{PROG}: error: {msg}", file=sys.stderr, flush=True)


def _port_free(host: str, port: int) -> str | None:
    """None if we can listen on host:port, else the reason."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    s = socket.socket(family, socket.SOCK_STREAM)
    try:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as os-ken does
        s.bind((host, port))
        return None
    except OSError as exc:
        return exc.strerror or str(exc)
    finally:
        s.close()


def _forward_to_app(request) -> dict:
    """The control channel's handler: hand the request to the running os-ken app."""
    from os_ken.base import app_manager

    app = app_manager.lookup_service_brick(APP_NAME)
    if app is None:
        return {"ok": False, "error": "the controller app is not running yet"}
    return app.control_request(request, timeout=CONTROL_TIMEOUT)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        fabric = Fabric.from_file(args.fabric)
    except (OSError, ValueError) as exc:
        _error(f"bad --fabric {args.fabric}: {' '.join(str(exc).split())}")
        return 2
    if args.events:
        try:
            open(args.events, "a", encoding="utf-8").close()
        except OSError as exc:
            _error(f"cannot write --events {args.events}: {exc.strerror or exc}")
            return 2
    why = _port_free(args.listen_host, args.listen_port)
    if why:
        _error(f"cannot listen on {args.listen_host}:{args.listen_port}: {why}")
        return 1

    control = None
    if args.control:
        control = ControlServer(args.control, _forward_to_app)
        try:
            control.start()
        except ControlError as exc:
            _error(f"bad --control: {exc}")
            return 2

    logging.basicConfig(
        stream=sys.stderr, level=getattr(logging, args.log_level),
        format="%(asctime)s.%(msecs)03d %(levelname)s %(name)s: %(message)s",
        datefmt="%Y-%m-%d %H:%M:%S",
    )
    log = logging.getLogger(PROG)

    # The app reads these in its constructor (app_manager instantiates it, not us).
    os.environ[ENV_FABRIC] = os.path.abspath(args.fabric)
    if args.events:
        os.environ[ENV_EVENTS] = os.path.abspath(args.events)
    else:
        os.environ.pop(ENV_EVENTS, None)
    os.environ[ENV_INSTANCE] = args.name
    if args.peer_control:
        os.environ[ENV_PEER] = os.path.abspath(args.peer_control)
    else:
        os.environ.pop(ENV_PEER, None)

    stop = threading.Event()
    got_signal: list[int] = []

    def on_signal(signum, _frame):
        got_signal.append(signum)
        stop.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)

    # Importing the controller module registers the --ofp-* options before parsing.
    import os_ken.controller.controller  # noqa: F401
    from os_ken import cfg
    from os_ken.base import app_manager

    cfg.CONF(
        args=["--ofp-listen-host", args.listen_host,
              "--ofp-tcp-listen-port", str(args.listen_port)],
        project="os_ken", default_config_files=[], default_config_dirs=[],
    )

    def run() -> None:
        try:
            app_manager.AppManager.run_apps(["controllers.app"])
        except AttributeError as exc:
            # os-ken threads hub: run_apps calls .kill() on plain threads while stopping.
            log.error("os-ken stopped (%s)", exc)
        except BaseException:  # report anything, then let main exit non-zero
            log.exception("os-ken failed")
        finally:
            stop.set()

    log.info("controller for %d switches / %d links listening on %s:%d",
             len(fabric.dpids), len(fabric.links), args.listen_host, args.listen_port)
    # Daemon thread: os-ken's threads inherit it, so nothing blocks the exit.
    threading.Thread(target=run, name="os-ken", daemon=True).start()
    while not stop.wait(0.5):  # a timeout keeps the main thread responsive to signals
        pass

    if control is not None:
        control.close()
    code = 0 if got_signal else 1
    if got_signal:
        log.info("signal %d: exiting", got_signal[0])
    else:
        log.error("os-ken stopped on its own: exiting")
    logging.shutdown()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)  # see module docstring: os-ken's threads cannot be joined


if __name__ == "__main__":
    sys.exit(main())
