"""Writes of the training side: snapshots, runs (creation, execution, cancellation), artifacts
and the periodic schedule. Reads are in training/selectors.py."""
