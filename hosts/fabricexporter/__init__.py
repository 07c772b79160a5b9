"""The fabric exporter's program (run by hosts/fabric_exporter.py on every monitor host)."""
