"""Daemons that run on the emulated hosts, one class per daemon (see hosts/daemon.py)."""
