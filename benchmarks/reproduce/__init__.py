"""Helpers of `benchmarks/reproduce.py`: the reproduction of the methods' central claims.

budgets   the two budgets (smoke, full): steps, levels, sparsities, seeds
claims    the runs each claim needs, as prunelab command-line overrides
runner    runs them as `prunelab` subprocesses, in parallel, resumable
estimate  measured speed -> the time a plan will take
stats     mean, std and the comparison rule every verdict uses
analyses  per-claim tables and verdicts from the runs' results.json files
measures  what needs the trained weights: layer collapse (claim 2), PreCropping speed (claim 5)
papers    the papers' full-scale figures, quoted (not measured)
document  docs/reproduction.md, written from the summaries
"""
