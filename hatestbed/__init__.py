"""The lifecycle layer: the testbed brought up and torn down, its status, its CLI, the experiment
suite and the main program. The only package that imports all the others (see the README's
architecture section)."""
