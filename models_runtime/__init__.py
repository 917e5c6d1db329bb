"""Model runtime for the visual-shopping platform: plain Python and PyTorch, never Django.

The Celery workers of the Django apps call into this package; it can also be used on its own
(training commands, offline evaluation, benchmarks).
"""
