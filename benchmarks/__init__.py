"""Reproducible benchmarks: every figure beside a baseline measured in the same run.

Run one suite with ``python -m benchmarks SUITE`` (``actors``, ``engines``, ``llm``); each prints
a table and writes ``benchmarks/results/SUITE.json``.
"""
