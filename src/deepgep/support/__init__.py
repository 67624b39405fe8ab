"""The ground floor of deepgep: input validation, statistics, spectra, threads, tables, plots,
presets and sweeps. Modules here import nothing from the floors above (theory, simulate,
chapters)."""

__all__: list[str] = []
