"""Render the project template tree: one Jinja environment, strict about every variable.

`mmp/cli/templates/project/` mirrors a generated project. Files ending in `.jinja` are rendered
(the suffix is dropped), every other file is copied byte for byte, and path segments may hold
`{{project.package}}`. A variable a template uses but the context lacks is an error at render time
(`StrictUndefined`), never an empty string in a user's Dockerfile.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import jinja2

SUFFIX = ".jinja"
TEMPLATE_ROOT = Path(__file__).resolve().parents[1] / "cli" / "templates" / "project"
_SKIP_PARTS = {"__pycache__"}


@dataclass(frozen=True)
class RenderedFile:
    """One file of a project: its path relative to the project root and its bytes."""

    path: str
    content: bytes


@cache
def environment(root: Path = TEMPLATE_ROOT) -> jinja2.Environment:
    """The one Jinja environment for every template (project files and `mmp get-config` alike)."""
    import jinja2

    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(root)),
        undefined=jinja2.StrictUndefined,
        keep_trailing_newline=True,
        trim_blocks=True,
        lstrip_blocks=True,
        autoescape=False,  # YAML, TOML, Dockerfiles and Markdown: never HTML
    )
    env.filters["tojson_compact"] = _tojson_compact
    return env


def _tojson_compact(value: Any) -> str:
    import json

    return json.dumps(value, separators=(", ", ": "))


def template_paths(root: Path = TEMPLATE_ROOT) -> list[str]:
    """Every file of the template tree, relative and '/'-separated, dotfiles included."""
    paths = []
    for path in sorted(root.rglob("*")):
        if path.is_file() and not (_SKIP_PARTS & set(path.parts)) and path.suffix != ".pyc":
            paths.append(path.relative_to(root).as_posix())
    return paths


def render_template(relative: str, context: Mapping[str, Any], root: Path = TEMPLATE_ROOT) -> str:
    """Render one `.jinja` template of the tree."""
    return environment(root).get_template(relative).render(**context)


def render_tree(
    context: Mapping[str, Any],
    rename: Mapping[str, str],
    skip: Iterable[str] = (),
    root: Path = TEMPLATE_ROOT,
) -> list[RenderedFile]:
    """Render the whole tree in memory: nothing touches the disk until every template has rendered.

    `rename` maps template paths to project paths (the chosen example's recipe and data); paths in
    `skip` (the other examples' files) are left out.
    """
    env = environment(root)
    skipped = set(skip) - set(rename)
    files = []
    for relative in template_paths(root):
        if relative in skipped:
            continue
        target = rename.get(relative) or env.from_string(relative).render(**context)
        if relative.endswith(SUFFIX):
            content = render_template(relative, context, root).encode("utf-8")
            target = target.removesuffix(SUFFIX)
        else:
            content = (root / relative).read_bytes()
        files.append(RenderedFile(path=target, content=content))
    return files
