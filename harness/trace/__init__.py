"""Traces: one schema for the model and the guest, normalisation, and the diff."""
