"""Tests of deepgep.support.experiment: coercion to the annotated types, presets, building from a
notebook's parameters cell, validation errors naming the field, differences from the book and
the banner, the summary table, and --set assignments."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import numpy as np
import pytest

from deepgep.support.experiment import Experiment, ExperimentError, cell_name, parse_assignment


@dataclass(frozen=True)
class Toy(Experiment):
    CHAPTER: ClassVar[int] = 99

    activation: str
    gain: float
    depth: int
    alphas: tuple[float, ...]
    ladder: tuple[tuple[int, int], ...]
    noise: float | None = None

    @classmethod
    def paper(cls) -> Toy:
        return cls("tanh", 2.0, 2, (0.5, 1.0), ((40, 10), (80, 20)))

    @classmethod
    def fast(cls) -> Toy:
        return cls("tanh", 2.0, 2, (0.5,), ((40, 10),))

    def validate(self) -> None:
        if self.gain <= 0:
            raise ValueError(f"gain must be > 0, got {self.gain}")

    @property
    def doubled(self) -> float:
        return 2 * self.gain

    def derived(self) -> dict:
        return {"twice the gain": self.doubled}


def test_values_are_coerced_to_the_annotations():
    toy = Toy("erf", 2, np.int64(3), [1, 2.5], [[40, 10]], noise=1)
    assert toy.gain == 2.0 and type(toy.gain) is float and type(toy.depth) is int
    assert toy.alphas == (1.0, 2.5) and all(type(a) is float for a in toy.alphas)
    assert toy.ladder == ((40, 10),) and toy.noise == 1.0
    assert Toy("tanh", 2, 2, [0.5, 1], [[40, 10], [80, 20]]) == Toy.paper()  # -p GAIN 2 is the book's 2.0


@pytest.mark.parametrize("changes, message", [
    ({"gain": "big"}, "Toy.gain must be a number"),
    ({"gain": float("inf")}, "Toy.gain must be finite"),
    ({"depth": 2.5}, "Toy.depth must be an integer"),
    ({"depth": True}, "Toy.depth must be an integer"),
    ({"alphas": 0.5}, "Toy.alphas must be a list"),
    ({"ladder": [[40, 10, 3]]}, r"Toy.ladder\[0\] must have 2 entries"),
    ({"activation": 3}, "Toy.activation must be a string"),
    ({"gain": -1.0}, "Toy: gain must be > 0"),
    ({"depht": 3}, "Toy has no parameter depht"),
])
def test_bad_values_are_refused_naming_the_field(changes, message):
    with pytest.raises(ExperimentError, match=message):
        Toy.paper().replace(**changes)


def test_presets_and_the_parameters_cell():
    assert Toy.preset("paper") == Toy.paper() and Toy.preset("fast") == Toy.fast()
    with pytest.raises(ExperimentError, match="preset must be one of paper, fast"):
        Toy.preset("slow")
    assert Toy.from_cell("fast", gain=None, activation=None) == Toy.fast()  # None keeps the preset's value
    run = Toy.from_cell("fast", gain=1.5, activation="erf")
    assert (run.gain, run.activation, run.alphas) == (1.5, "erf", (0.5,))
    assert cell_name("depth_ratios") == "DEPTH_RATIOS"


def test_differences_banner_and_summary():
    assert Toy.paper().is_book and Toy.paper().preset_name() == "paper"
    assert "the book's parameters" in Toy.paper().banner()
    run = Toy.from_cell("paper", gain=1.5)
    assert not run.is_book and run.preset_name() is None
    assert run.differences() == [("gain", 2.0, 1.5)]
    assert "`GAIN` = 1.5 (book: 2.0)" in run.banner() and "not the book's" in run.banner()
    assert "fast preset" in Toy.fast().banner()
    summary = Toy.fast().summary()
    assert summary["parameter"] == ["ACTIVATION", "GAIN", "DEPTH", "ALPHAS", "LADDER", "NOISE", "twice the gain"]
    assert summary["this run"][3] == "[0.5]" and summary["book (paper)"][4] == "[[40, 10], [80, 20]]"
    assert summary["this run"][-1] == "4.0" and summary["fast"][-1] == ""
    assert Toy.paper().description() == {"class": f"{__name__}:Toy", "parameters": {
        "activation": "tanh", "gain": 2.0, "depth": 2, "alphas": [0.5, 1.0], "ladder": [[40, 10], [80, 20]],
        "noise": None}}


@pytest.mark.parametrize("text, expected", [
    ("gain=1.5", ("gain", 1.5)), ("GAIN=2", ("gain", 2)), ("activation=erf", ("activation", "erf")),
    ("alphas=[0.5, 1]", ("alphas", [0.5, 1])), ("activation='erf'", ("activation", "erf")),
])
def test_parse_assignment(text, expected):
    assert parse_assignment(text) == expected


def test_parse_assignment_refuses_what_is_no_assignment():
    with pytest.raises(ExperimentError, match="NAME=VALUE"):
        parse_assignment("gain")
