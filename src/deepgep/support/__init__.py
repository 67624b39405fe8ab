"""The ground floor of deepgep: input validation, statistics and fits, spectra, threads, tables,
plots, the chapters' experiments (their typed parameters), recorded tables and sweeps, claims,
notebook execution. Modules here import nothing from the floors above (theory, simulate,
chapters)."""

__all__: list[str] = []
