"""Shared core used by every layer: errors, YAML loading, data IO, the feature contract, model loading.

Nothing here imports the CLI, serving or training code.
"""
