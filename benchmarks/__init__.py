"""Benchmarks: each target measured next to its anchor, in one run (`make bench`).

A number on its own says little on a shared two-core machine, so every target is measured
alongside an anchor (the thing it should be compared with) in interleaved rounds, and the
ratio is what we track. See `benchmarks/README.md`.
"""
