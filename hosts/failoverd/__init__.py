"""The database failover manager's program (run by hosts/failover.py): decision.py is pure and
unit-tested, manager.py observes MariaDB over TCP and acts."""
