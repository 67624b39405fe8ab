"""Chapter 7: the Monte Carlo experiments on deep linear networks at proportional depth (the
chapter's scans move here from its notebook)."""

__all__: list[str] = []
