"""One class per daemon: what it renders, how its config is checked, how it runs and is ready.

    Daemon(site, host)
      pure (no root, unit-tested):
        files()          {path: text} rendered from templates as a function of the Site
        check_command()  argv that validates the rendered config (haproxy -c, nginx -t, ...) or None
        command()        argv that runs the daemon in the FOREGROUND (its pid is the one recorded),
                         or None for a host setting with no process (the firewall)
      live (node = the Mininet host; run by hosts/manager.py):
        prepare(node)    one-off steps before start (copy a datadir, apply rules)
        is_ready(node)   the health probe polled with a deadline after start
        after_ready(node) steps once every daemon of the same stage is ready (replication)
        status(node)     a short state text for the status table

Class attributes: `name`, `binary` + `package` (preflight), `stage` (start order; stop reverses
it), `ready_by` (a later stage that is the first to need it ready: its start-up then overlaps
the stages between; None: ready before the next stage), `ready_timeout` (seconds),
`start_retries` (restarts after an exit during start-up). A daemon never finds its process by
name: the manager starts it, records its pid in the run directory and stops it by that pid.
"""

from __future__ import annotations

from pathlib import Path
from typing import ClassVar

from jinja2 import Environment, PackageLoader, StrictUndefined

from hosts.site import Site
from runtime.processes import STOP_GRACE
from topo.errors import TestbedError

_templates = Environment(loader=PackageLoader("hosts", "templates"), undefined=StrictUndefined,
                         keep_trailing_newline=True, trim_blocks=True, lstrip_blocks=True)


def render(template: str, **values) -> str:
    """Render hosts/templates/<template>; an unknown variable is an error, not an empty string."""
    return _templates.get_template(template).render(**values)


class ServiceError(TestbedError):
    """A daemon could not be configured, checked, started or made ready."""


class ExitedDuringStartError(ServiceError):
    """The daemon's process ended before it was ready."""


class Daemon:
    name: ClassVar[str]
    binary: ClassVar[str]
    package: ClassVar[str]
    stage: ClassVar[int]
    ready_by: ClassVar[float | None] = None
    # Seconds between TERM and KILL when the whole testbed stops (a fault's stop has its own).
    teardown_grace: ClassVar[float] = STOP_GRACE
    ready_timeout: ClassVar[float] = 10.0
    # How many times a restart (a fault's recovery) starts the daemon again when it exits before
    # it is ready, as a service manager's Restart=on-failure would.
    start_retries: ClassVar[int] = 0
    # Daemons (by name) whose restart on a retime forces this one's too, files changed or not:
    # it watches them by pid, and a restart under it is a failure it reacts to (keepalived).
    restarts_with: ClassVar[tuple[str, ...]] = ()

    def __init__(self, site: Site, host: str):
        self.site = site
        self.host = host

    @classmethod
    def wanted(cls, site: Site, host: str) -> bool:
        """Does this daemon run on `host` of a host role that lists it? (Most always do.)"""
        return True

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.host})"

    @property
    def label(self) -> str:
        """The name of this daemon instance in records and logs, e.g. "lb1-haproxy"."""
        return f"{self.host}-{self.name}"

    # -- pure -------------------------------------------------------------------------------------
    def files(self) -> dict[Path, str]:
        return {}

    def check_command(self) -> list[str] | None:
        return None

    def sockets(self) -> list[Path]:
        """UNIX sockets this daemon creates (AF_UNIX paths are limited: preflight checks them)."""
        return []

    def command(self) -> list[str] | None:
        raise NotImplementedError

    # -- live -------------------------------------------------------------------------------------
    def prepare(self, node) -> None:
        pass

    def is_ready(self, node) -> bool:
        return True

    def after_ready(self, node) -> None:
        pass

    def before_retry(self, node) -> None:
        """After an exit during start-up, before the start that retries it (see start_retries)."""

    def status(self, node) -> str:
        return "ready" if self.is_ready(node) else "not ready"

    # -- paths ------------------------------------------------------------------------------------
    @property
    def log_path(self) -> Path:
        return self.site.log(self.host, self.name)

    def conf_path(self, filename: str) -> Path:
        return self.site.conf(self.host, filename)
