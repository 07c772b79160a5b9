"""`lab check N`: each step of lab N graded against this session's own measurement (steps.py),
never against a fixed number; the same verdicts in the CLI and on the page.

    step            measured here              recorded by the student      verdict
    vip-move-ms     52 ms (lb2 MASTER after    predict 100 (before)         done: your 60 ms is within
                    node:lb1 injected)         answer 60                    20 ms or 25 % of 52 ms

A number is right within its kind's tolerance (ms: 20 ms or 25 %, whichever is more, as a
student reads times off a timeline; a count: 1 or 25 %; a percentage: 5 points); yes/no and a
host name must match. A prediction is never wrong: it is shown beside the measurement, and
marked when it was recorded after the event (then it is not a prediction).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

from hatestbed.labs.book import LabBook
from hatestbed.labs.session import Session
from hatestbed.labs.steps import LABS, Measured, Step

UNITS = {"ms": " ms", "count": "", "percent": " %", "yesno": "", "host": ""}


class LabInputError(ValueError):
    """A lab number, step or value the self-check cannot take (the message says which)."""


@dataclass(frozen=True)
class Verdict:
    lab: int
    key: str
    ask: str
    how: str
    state: str  # done | wrong | measured | to do
    text: str
    prediction: str

    def as_json(self) -> dict:
        return asdict(self)


def lab_steps(lab: int) -> list[Step]:
    if lab not in LABS:
        raise LabInputError(f"no lab {lab} (labs: {', '.join(map(str, LABS))})")
    return LABS[lab][1]


def step_of(lab: int, key: str) -> Step:
    steps = lab_steps(lab)
    for step in steps:
        if step.key == key:
            return step
    raise LabInputError(f"lab {lab} has no step {key!r} (steps: {', '.join(s.key for s in steps)})")


def parse_value(step: Step, text: str) -> str:
    """The student's value, checked for the step's kind (the error says what is expected)."""
    value = text.strip().lower()
    if step.kind in ("ms", "count", "percent"):
        try:
            number = float(value.removesuffix("ms").removesuffix("%").strip())
        except ValueError:
            raise LabInputError(f"{step.key}: {text!r} is not a number{UNITS[step.kind]}") from None
        if number < 0:
            raise LabInputError(f"{step.key}: {text!r} is negative")
        return f"{number:g}"
    if step.kind == "yesno":
        if value not in ("yes", "no"):
            raise LabInputError(f"{step.key}: answer yes or no, not {text!r}")
        return value
    if not value:
        raise LabInputError(f"{step.key}: give a host name")
    return value


def close_enough(kind: str, answer: str, measured) -> bool:
    if kind in ("yesno", "host"):
        return answer == str(measured).lower()
    a, m = float(answer), float(measured)
    tolerance = {"ms": max(20.0, 0.25 * m), "count": max(1.0, 0.25 * m), "percent": 5.0}[kind]
    return abs(a - m) <= tolerance


def show(kind: str, value) -> str:
    return f"{value:g}{UNITS[kind]}" if isinstance(value, (int, float)) else f"{value}{UNITS[kind]}"


def grade(lab: int, session: Session, book: LabBook) -> list[Verdict]:
    verdicts = []
    for step in lab_steps(lab):
        measured = step.measure(session)
        predicted = book.latest(lab, step.key, "predict") if step.predict else None
        answer = book.latest(lab, step.key, "answer")
        prediction = ""
        if predicted:
            prediction = f"you predicted {show(step.kind, predicted['value'])}"
            if isinstance(measured, Measured) and predicted["t"] > measured.at:
                prediction += " (recorded after the event: not a prediction)"
        if not isinstance(measured, Measured):
            state, text = "to do", measured
        elif answer is None:
            state = "measured"
            text = f"measured in this session; now record what you read: lab answer {lab} {step.key} VALUE"
        elif close_enough(step.kind, answer["value"], measured.value):
            state = "done"
            text = f"your {show(step.kind, answer['value'])} agrees with the testbed's {show(step.kind, measured.value)} ({measured.how})"
        else:
            state = "wrong"
            text = f"your {show(step.kind, answer['value'])} is off: the testbed measured {show(step.kind, measured.value)} ({measured.how})"
        if predicted and isinstance(measured, Measured) and answer is not None:  # not before the answer
            prediction += f"; the testbed measured {show(step.kind, measured.value)}"
        verdicts.append(Verdict(lab, step.key, step.ask, step.how, state, text, prediction))
    return verdicts


def check_lines(lab: int, verdicts: list[Verdict]) -> list[str]:
    done = sum(1 for v in verdicts if v.state == "done")
    lines = [f"lab {lab} ({LABS[lab][0]}): {done} of {len(verdicts)} steps done"]
    for v in verdicts:
        lines.append(f"  [{v.state}] {v.key}: {v.text}")
        if v.prediction:
            lines.append(f"          {v.prediction}")
    return lines


def steps_lines(lab: int) -> list[str]:
    lines = [f"lab {lab} ({LABS[lab][0]}): record with `lab predict {lab} STEP VALUE` before, "
             f"`lab answer {lab} STEP VALUE` after; then `lab check {lab}`"]
    for step in lab_steps(lab):
        lines.append(f"  {step.key:<17} {step.ask}  [read it: {step.how}]"
                     + ("" if step.predict else "  (no prediction)"))
    return lines
