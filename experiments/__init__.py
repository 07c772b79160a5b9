"""Failure experiments on the testbed: reversible faults, probes, experiments, analysis and reports."""
