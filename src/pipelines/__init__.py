"""Training, validation and batch-inference pipelines: the logic behind `mmp train` and friends."""
