"""Project scaffolding: `mmp init`, the recipe/config generators and the data inspection behind them.

The CLI adapters in `mmp.cli.init` / `mmp.cli.generate` call the typed functions here; templates
live in `mmp/cli/templates/project/`, a tree that mirrors the generated project.
"""
