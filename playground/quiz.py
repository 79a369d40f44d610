"""Shape quiz: hide one shape of `shapes.describe(...)`, parse the learner's guess, explain.

A question is a `Question` (target, answer, formula, why); `check` compares a typed
guess such as "(5, 3, 20)", "5 3 20", "5x3x20" or "torch.Size([5, 3, 20])" with the answer.
"""
from __future__ import annotations

import random
import re
from dataclasses import dataclass

from playground.shapes import TENSORS, ShapeReport


@dataclass(frozen=True)
class Question:
    target: str                 # a tensor ("output") or parameter ("weight_ih_l0") name
    answer: tuple[int, ...]     # its shape
    formula: str                # its shape formula, "(seq_len, batch_size, hidden_size)"
    why: str                    # the explanation shown with the verdict


def targets(desc: ShapeReport) -> list[str]:
    """Everything the quiz can ask about: the tensors that exist, then every parameter."""
    return [t for t in TENSORS if desc.tensor(t) is not None] + list(desc.parameters)


def _with_numbers(formula: str, desc: ShapeReport) -> str:
    """'(seq_len, num_directions·hidden_size)' -> '(seq_len = 5, num_directions·hidden_size = 2·20)'."""
    values = {"seq_len": desc.seq_len, "batch_size": desc.batch_size,
              "input_size": desc.input_size, "hidden_size": desc.hidden_size,
              "num_layers": desc.num_layers, "num_directions": desc.num_directions,
              "proj_size": desc.proj_size}
    parts = []
    for axis in formula.strip("()").split(","):
        axis = axis.strip()
        if not axis:
            continue
        numbers = re.sub(r"[a-z_]+", lambda m: str(values[m.group(0)]), axis)
        parts.append(axis if numbers == axis else f"{axis} = {numbers}")
    return "(" + ", ".join(parts) + ("," if len(parts) == 1 else "") + ")"


def question(desc: ShapeReport, target: str) -> Question:
    """The quiz question about `target` (a tensor name or a parameter name)."""
    if target in desc.parameters:
        entry = desc.entry(target)
        answer, formula = entry.shape, entry.formula
    elif target in TENSORS and desc.tensor(target) is not None:
        answer, formula = desc.tensor(target), desc.tensor_formulas[target]
    else:
        raise ValueError(f"nothing called {target!r} in this {desc.family}")
    why = f"{target} has shape {formula}: {_with_numbers(formula, desc)}."
    if target in ("h_n", "h0", "c_n", "c0") and desc.batch_first:
        why += " batch_first only changes input and output; the states are never batch-first."
    if target.startswith("weight_ih_l") and not target.startswith("weight_ih_l0"):
        why += (" Layer k>0 reads the output of layer k-1, which has num_directions·"
                f"{'proj_size' if desc.proj_size else 'hidden_size'} features.")
    return Question(target, tuple(answer), formula, why)


def random_question(desc: ShapeReport, seed: int) -> Question:
    """A question about a target picked by `seed` (the same seed gives the same question)."""
    options = targets(desc)
    return question(desc, options[random.Random(seed).randrange(len(options))])


def parse_shape(text: str) -> tuple[int, ...]:
    """Read a typed shape: '(5, 3, 20)', '5 3 20', '5x3x20', 'torch.Size([80])', '[80, 10]'."""
    cleaned = re.sub(r"torch\.Size|[()\[\]]", " ", str(text))
    pieces = [p for p in re.split(r"[\s,x×*]+", cleaned.strip()) if p]
    if not pieces or not all(p.isdigit() for p in pieces):
        raise ValueError(f"type a shape as whole numbers, like (5, 3, 20); got {text!r}")
    return tuple(int(p) for p in pieces)


def check(q: Question, guess: str) -> tuple[bool, str]:
    """(correct, message) for the learner's guess; an unreadable guess is wrong with a hint."""
    try:
        shape = parse_shape(guess)
    except ValueError as err:
        return False, str(err)
    if shape == q.answer:
        return True, f"Right: {q.answer}. {q.why}"
    hint = ""
    if len(shape) != len(q.answer):
        hint = f" It has {len(q.answer)} dimension(s), you gave {len(shape)}."
    return False, f"Not quite: you said {shape}, PyTorch gives {q.answer}.{hint} {q.why}"
