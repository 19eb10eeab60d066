"""Evaluation harness: preset / FiveK / DPST benchmarks and a speed benchmark.

Run from the repository root: `python -m eval --help`, `python -m eval.bench_speed --help`.
"""
