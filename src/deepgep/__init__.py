"""deepgep: the library of the book on deep networks as linear models.

Three floors and a ground floor; a module imports only from its own floor and the floors below:

* :mod:`deepgep.theory` — the equations: activations, Gaussian quadrature, the layer coefficients
  of Theorem 1 and their composition into the equivalent GLM, kernels, output channels, the
  state evolution of the Bayes-optimal GLM, ridge asymptotics, the exact linear GLM, and the
  companion chapters' theories (kernel renormalisation, deep linear networks, deep equilibrium
  models). Imports only :mod:`deepgep.support`.
* :mod:`deepgep.simulate` — samplers and learners: random networks and teachers, ridge, logistic
  regression, GAMP, trained students, posterior sampling, finite-width DEQs and deep linear
  networks. Imports :mod:`deepgep.theory` and :mod:`deepgep.support`.
* :mod:`deepgep.chapters` — one module per chapter of the book, its scans and tables. Imports
  everything below, never another chapter.
* :mod:`deepgep.support` — validation, statistics, fits, spectra, threads, tables, plots, experiments,
  data sets, sweeps. Imports nothing from the floors above.

The names below are the public API (what the README documents); everything else is reached
through its module. Importing deepgep sets numba's cache folder to a user cache folder
(``~/.cache/deepgep/numba`` on Linux) unless ``NUMBA_CACHE_DIR`` is set, so that compiled kernels
are never written into the installed package.

``deepgep.__version__`` is :data:`deepgep.version.VERSION`. Importing deepgep, its public names
and the command line need only the core dependencies (``pip install deepgep``); the optional
packages are imported when they are used: JAX and BlackJAX when :func:`sample_posterior` runs
(extra ``[sampling]``), scikit-learn when :func:`logistic_regression` runs (``[learners]``), Dask
when a sweep runs on it (``[sweeps]``), matplotlib with :mod:`deepgep.support.plotting`
(``[plot]``), which only the notebooks import.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path


def _user_cache_dir() -> Path:
    """The platform's per-user cache folder (XDG on Linux, Library/Caches on macOS)."""
    if sys.platform == "darwin":
        return Path.home() / "Library" / "Caches"
    if os.name == "nt":
        return Path(os.environ.get("LOCALAPPDATA", Path.home() / "AppData" / "Local"))
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")


# before anything imports numba: numba reads NUMBA_CACHE_DIR once, when it is first imported
os.environ.setdefault("NUMBA_CACHE_DIR", str(_user_cache_dir() / "deepgep" / "numba"))

from deepgep.version import VERSION  # noqa: E402

__version__: str = VERSION

from deepgep.simulate.amp import gamp  # noqa: E402
from deepgep.simulate.estimators import logistic_regression, ridge, ridge_path  # noqa: E402
from deepgep.simulate.networks import forward, sample_network  # noqa: E402
from deepgep.simulate.nuts import sample_posterior  # noqa: E402
from deepgep.simulate.posterior import NetworkPrior  # noqa: E402
from deepgep.simulate.teachers import deep_teacher_sample, glm_teacher_sample, sample_teacher  # noqa: E402
from deepgep.simulate.training import train_student  # noqa: E402
from deepgep.support.report import format_table  # noqa: E402
from deepgep.support.stats import standard_error  # noqa: E402
from deepgep.theory.activations import get_activation, known_activations  # noqa: E402
from deepgep.theory.channels import known_channels, make_channel  # noqa: E402
from deepgep.theory.kernels import conjugate_kernel, nngp_kernel  # noqa: E402
from deepgep.theory.layers import (depth_table, equivalent_glm, equivalent_parameters,  # noqa: E402
                                   layer_coefficients)
from deepgep.theory.ridge import bayes_ridge_lambda, ridge_classification_error, ridge_regression_error  # noqa: E402
from deepgep.theory.state_evolution import bayes_optimal_curve, gaussian_closed_form, mutual_information  # noqa: E402

__all__ = [
    # theory
    "get_activation", "known_activations", "layer_coefficients", "equivalent_glm",
    "equivalent_parameters", "depth_table", "make_channel", "known_channels",
    "bayes_optimal_curve", "gaussian_closed_form", "mutual_information", "bayes_ridge_lambda",
    "ridge_regression_error", "ridge_classification_error", "conjugate_kernel", "nngp_kernel",
    # simulate
    "sample_network", "forward", "sample_teacher", "deep_teacher_sample", "glm_teacher_sample", "ridge",
    "ridge_path", "logistic_regression", "gamp", "train_student",
    "NetworkPrior", "sample_posterior",
    # support
    "format_table", "standard_error",
]
