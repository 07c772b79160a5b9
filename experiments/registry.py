"""Experiments are discovered, not listed: every module of the experiments package that defines
an Experiment subclass with a `name` contributes it. A new experiment is one new module.

    experiments/
      my_experiment.py   class MyExperiment(Experiment): name = "my_experiment"; order = 90 ...
                         → `--list-experiments`, `--experiment my_experiment`, the CLI's
                           `experiment my_experiment` and `all` (if in_all) find it

`all` runs the experiments with in_all = True in their declared `order` (then by name); long
studies (in_all = False) run only by name.
"""

from __future__ import annotations

import importlib
import pkgutil

import experiments
from experiments.base import Experiment, ExperimentError

# Modules that hold the machinery, not experiments (importing them would find nothing).
_MACHINERY = {"base", "registry", "analysis", "report", "probes", "probe_client"}


def discover() -> dict[str, type[Experiment]]:
    """Experiment name → class, in `order`. Two classes with one name is an ExperimentError."""
    found: dict[str, type[Experiment]] = {}
    for module in pkgutil.iter_modules(experiments.__path__):
        if module.ispkg or module.name in _MACHINERY or module.name.startswith("_"):
            continue
        loaded = importlib.import_module(f"experiments.{module.name}")
        for value in vars(loaded).values():
            if (isinstance(value, type) and issubclass(value, Experiment) and value.__module__ == loaded.__name__
                    and getattr(value, "name", None)):
                if value.name in found and found[value.name] is not value:
                    raise ExperimentError(f"two experiments are named {value.name!r}: "
                                          f"{found[value.name].__module__} and {value.__module__}")
                found[value.name] = value
    return dict(sorted(found.items(), key=lambda item: (item[1].order, item[0])))


def resolve(names: str) -> list[type[Experiment]]:
    """"all" or comma-separated names → classes; an unknown name is an ExperimentError."""
    known = discover()
    if names == "all":
        return [cls for cls in known.values() if cls.in_all]
    chosen = []
    for name in names.split(","):
        if name not in known:
            raise ExperimentError(f"unknown experiment {name!r}; known: {', '.join(known)} (or all)")
        chosen.append(known[name])
    return chosen
