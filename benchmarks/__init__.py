"""Proxy-overhead benchmarks: the gateway against a fast fake upstream, measured with wrk and hey.

Run with ``./dev bench`` (full) or ``./dev bench --quick``; see ``benchmarks/README.md``.
"""
