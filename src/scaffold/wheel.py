"""Put the running mmp's wheel in a new project's wheels/, so the project installs on its own.

mmp-toolkit is not on a package index: a generated project's `uv sync` and `docker build` find it
in wheels/ (`[tool.uv] find-links`). From a checkout the wheel is built once per source state and
cached (~/.cache/mmp/wheels, or $MMP_WHEEL_CACHE), so a second `mmp init` copies it in
milliseconds; from a local wheel that file is copied. From a package index nothing is needed.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from mmp.core.errors import MmpError
from mmp.core.installation import Installation, installation

WHEEL_GLOB = "mmp_toolkit-*.whl"
# What goes into the wheel: the package and the files its metadata reads.
SOURCE_FILES = ("pyproject.toml", "setup.py", "README.md")


@dataclass(frozen=True)
class ShippedWheel:
    """The wheel put in the project (None when mmp came from an index), and whether it was built."""

    wheel: Path | None
    built: bool = False


def needs_wheel(found: Installation | None = None) -> bool:
    """True when a new project cannot get mmp-toolkit from a package index."""
    return not (found or installation()).from_index


def ship_mmp_wheel(
    wheels: Path, found: Installation | None = None, on_build: Callable[[Path], None] | None = None
) -> ShippedWheel:
    """Copy or build the running mmp's wheel into `wheels`, replacing older mmp-toolkit wheels.

    `on_build(source)` is called before a (slow, ~5 s) build, so a CLI can say what it is doing.
    """
    found = found or installation()
    if found.from_index:
        return ShippedWheel(None)
    if found.path is None:
        raise MmpError(
            "cannot find mmp's source to build its wheel for wheels/",
            "build it yourself: uv build --wheel --out-dir wheels/ /path/to/mmp",
        )
    built = False
    if found.path.is_file() and found.path.suffix == ".whl":
        source = found.path
    elif found.path.is_dir():
        source, built = _cached_build(found.path, on_build)
    else:
        raise MmpError(
            f"mmp was installed from {found.path}, which no longer exists",
            "build mmp's wheel yourself: uv build --wheel --out-dir wheels/ /path/to/mmp",
        )
    wheels.mkdir(parents=True, exist_ok=True)
    for old in wheels.glob(WHEEL_GLOB):
        if old.name != source.name:
            old.unlink()
    target = wheels / source.name
    shutil.copyfile(source, target)
    return ShippedWheel(target, built)


def wheel_cache() -> Path:
    default = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "mmp" / "wheels"
    return Path(os.environ.get("MMP_WHEEL_CACHE", default))


def _source_key(root: Path) -> str:
    """Changes whenever a file that goes into the wheel changes (paths, sizes, modification times)."""
    digest = hashlib.sha256(str(root.resolve()).encode())
    files = [root / name for name in SOURCE_FILES if (root / name).is_file()]
    files += sorted(p for p in (root / "src").rglob("*") if p.is_file() and "__pycache__" not in p.parts)
    for path in files:
        stat = path.stat()
        digest.update(f"{path.relative_to(root)}\0{stat.st_size}\0{stat.st_mtime_ns}\n".encode())
    return digest.hexdigest()[:16]


def _cached_build(root: Path, on_build: Callable[[Path], None] | None) -> tuple[Path, bool]:
    folder = wheel_cache() / _source_key(root)
    cached = sorted(folder.glob(WHEEL_GLOB))
    if cached:
        return cached[-1], False
    if on_build is not None:
        on_build(root)
    folder.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=folder.parent, prefix=".build-") as tmp:
        _build(root, Path(tmp) / "out")
        try:
            (Path(tmp) / "out").rename(folder)  # atomic: a concurrent init sees all or nothing
        except OSError:
            if not any(folder.glob(WHEEL_GLOB)):
                raise
    return sorted(folder.glob(WHEEL_GLOB))[-1], True


def _build(root: Path, out: Path) -> None:
    uv = shutil.which("uv")
    if uv:
        command = [uv, "build", "--wheel", "--quiet", "--out-dir", str(out), str(root)]
    else:
        command = [sys.executable, "-m", "pip", "wheel", "--no-deps", "--quiet", "-w", str(out), str(root)]
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    if done.returncode != 0 or not any(out.glob(WHEEL_GLOB)):
        last = (done.stderr.strip().splitlines() or ["no wheel was written"])[-1]
        raise MmpError(
            f"building mmp's wheel for wheels/ failed: {last}",
            f"build it yourself: uv build --wheel --out-dir wheels/ {root}",
        )
