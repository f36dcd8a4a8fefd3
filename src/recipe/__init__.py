"""Typed, strict models for recipes (what to train) and configs (where to run), and their loaders."""
