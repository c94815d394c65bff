"""Benchmarks (`sessionbot bench …`): numbers with a same-process baseline, never timed tests."""
