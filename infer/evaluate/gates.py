"""CI gates on metrics: `--fail-under accuracy=0.95` (and `--fail-over ece=0.05` for smaller-is-better keys).

A breached gate makes the command exit 4 (ExitCode.GATE_FAILED) with a message naming the metric, its value
and the bound. A metric that is undefined for the data (None) breaches its gate: a gate that cannot be
checked must not pass silently.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import click


@dataclass(frozen=True)
class Gate:
    """Fail when `metric` is below `bound` (direction "under") or above it ("over")."""

    metric: str
    bound: float
    direction: str  # "under" | "over"

    def breach(self, metrics: Mapping[str, Any]) -> str | None:
        """A message when `metrics` breaches this gate, else None."""
        value = metrics.get(self.metric)
        if value is None:
            return f"{self.metric} is undefined for this data (bound {self.bound:g})"
        if (value < self.bound) if self.direction == "under" else (value > self.bound):
            word = "below" if self.direction == "under" else "above"
            return f"{self.metric} = {value:.4f} is {word} the bound {self.bound:g}"
        return None


def gate_keys() -> tuple[str, ...]:
    """The metric keys a gate may name: every scalar key of the metric suite."""
    from imgcheck.infer.evaluate.metrics import METRIC_KEYS

    return tuple(k for k in METRIC_KEYS if k != "confusion_matrix")


def parse_gates(texts: Sequence[str], direction: str, option: str) -> list[Gate]:
    """Gates from `METRIC=VALUE` texts; a bad one is a usage error naming `option` and the known keys."""
    gates = []
    for text in texts:
        metric, sep, bound_text = text.partition("=")
        metric = metric.strip()
        if not sep or metric not in gate_keys():
            raise click.BadParameter(f"{text!r}: expected METRIC=VALUE with METRIC one of {', '.join(gate_keys())}",
                                     param_hint=option)
        try:
            bound = float(bound_text)
        except ValueError:
            raise click.BadParameter(f"{text!r}: {bound_text!r} is not a number", param_hint=option)
        gates.append(Gate(metric, bound, direction))
    return gates


def breaches(gates: Sequence[Gate], metrics: Mapping[str, Any]) -> list[str]:
    """The messages of every breached gate, in the order given."""
    return [message for gate in gates if (message := gate.breach(metrics))]
