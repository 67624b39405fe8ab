"""Samplers and learners (second floor): random networks and teachers, estimators, GAMP, trained
students, posterior sampling, finite-width DEQs and deep linear networks. Imports
:mod:`deepgep.theory` and :mod:`deepgep.support`."""

__all__: list[str] = []
