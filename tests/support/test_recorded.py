"""Tests of deepgep.support.recorded: where an experiment's tables live, the book's tables read
and never computed, other parameters computed once and read the second time."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import pytest

from deepgep.support.experiment import Experiment
from deepgep.support.recorded import RESULTS_ENV, book_root, experiment_tables, folder_for, runs_dir
from deepgep.support.sweeps import Sweep, TableDamagedError, grid_product


def square_task(params: dict, seed: int) -> dict:
    return {"square": float(params["x"]) ** 2 + seed}


@dataclass(frozen=True)
class Squares(Experiment):
    CHAPTER: ClassVar[int] = 98
    xs: tuple[int, ...]
    seeds: int

    @classmethod
    def paper(cls) -> Squares:
        return cls((1, 2, 3), 2)

    @classmethod
    def fast(cls) -> Squares:
        return cls((1, 2), 2)

    def sweeps(self) -> dict[str, Sweep]:
        return {"squares": Sweep(98, "squares", f"{__name__}:square_task", grid_product(x=list(self.xs)),
                                 range(self.seeds))}


def test_the_book_root_and_the_folders(tmp_path, monkeypatch):
    monkeypatch.delenv(RESULTS_ENV, raising=False)
    root = book_root()
    assert root is not None and (root / "_toc.yml").exists()
    monkeypatch.chdir(root / "notebooks")
    assert folder_for(Squares.paper()) == root / "results" and runs_dir() == root / "_build" / "results"
    monkeypatch.chdir(tmp_path)
    assert book_root() is None and runs_dir().parts[-2:] == ("deepgep", "results")
    monkeypatch.setenv(RESULTS_ENV, str(tmp_path / "one"))
    assert folder_for(Squares.paper()) == folder_for(Squares.fast()) == tmp_path / "one"


def test_the_books_tables_are_read_never_computed(tmp_path, monkeypatch):
    monkeypatch.setenv(RESULTS_ENV, str(tmp_path))
    with pytest.raises(TableDamagedError, match="deepgep run --chapter 98"):
        experiment_tables(Squares.paper())


def test_other_parameters_are_computed_once_then_read(tmp_path, monkeypatch):
    monkeypatch.setenv(RESULTS_ENV, str(tmp_path))
    tables = experiment_tables(Squares.fast(), scheduler="serial", progress=False)
    frame = tables["squares"]
    assert sorted(zip(frame["x"], frame["seed"], frame["square"])) == [(1, 0, 1.0), (1, 1, 2.0), (2, 0, 4.0),
                                                                       (2, 1, 5.0)]
    csv = Squares.fast().sweeps()["squares"].csv_path(tmp_path)
    mtime = csv.stat().st_mtime_ns
    again = experiment_tables(Squares.fast(), scheduler="serial", progress=False)["squares"]
    assert again.equals(frame) and csv.stat().st_mtime_ns == mtime  # read, not recomputed
    other = Squares.fast().replace(xs=(5,))
    assert experiment_tables(other, scheduler="serial", progress=False)["squares"]["square"].tolist() == [25.0, 26.0]
