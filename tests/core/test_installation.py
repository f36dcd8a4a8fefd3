"""Install hints fit how mmp was installed: a checkout, a local wheel, or a package index."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from mmp.core.errors import MissingExtraError, import_optional
from mmp.core.installation import Installation, installation
from tests.conftest import REPO


def test_this_test_run_is_a_checkout() -> None:
    assert installation() == Installation("checkout", REPO, installation().installer)


@pytest.mark.parametrize(
    ("found", "fix"),
    [
        (Installation("checkout", Path.cwd()), "uv sync --extra serving (or pip install -e '.[serving]')"),
        (
            Installation("checkout", Path("/src/mmp")),
            "uv sync --extra serving (or pip install -e '.[serving]') in /src/mmp",
        ),
        (Installation("index", None, "pip"), "pip install 'mmp-toolkit[serving]'"),
        (
            Installation("index", None, "uv"),
            "uv add 'mmp-toolkit[serving]' (or pip install 'mmp-toolkit[serving]')",
        ),
        # A wheel file that is gone cannot be reinstalled: the index form is all that is left.
        (Installation("local", Path("/gone/mmp_toolkit-0.1.0-py3-none-any.whl"), "pip"),
         "pip install 'mmp-toolkit[serving]'"),
    ],
)  # fmt: skip
def test_install_extra_fits_the_installation(found: Installation, fix: str) -> None:
    assert found.install_extra("serving") == fix


def test_a_local_wheel_is_reinstalled_with_the_extra(tmp_path: Path) -> None:
    wheel = tmp_path / "mmp_toolkit-0.1.0-py3-none-any.whl"
    wheel.write_bytes(b"")
    assert Installation("local", wheel, "pip").install_extra("tune") == f"pip install '{wheel}[tune]'"


def test_missing_module_is_one_error_with_the_extra() -> None:
    with pytest.raises(MissingExtraError) as caught:
        import_optional("mmp_no_such_module_for_tests", "tune")
    assert (
        caught.value.message
        == "'mmp_no_such_module_for_tests' is not installed (it comes with mmp's 'tune' extra)"
    )
    assert caught.value.hint == installation().install_extra("tune")


def test_a_wheel_install_is_detected_from_direct_url(tmp_path: Path) -> None:
    """A venv with mmp installed from a wheel file (PEP 610) says `pip install 'WHEEL[extra]'`."""
    site = tmp_path / "site-packages"
    (site / "mmp").mkdir(parents=True)
    for module in ("__init__.py",):
        (site / "mmp" / module).write_text("")
    (site / "mmp" / "core").mkdir()
    for module in ("__init__.py", "installation.py"):
        (site / "mmp" / "core" / module).write_bytes((REPO / "src" / "core" / module).read_bytes())
    wheel = tmp_path / "mmp_toolkit-0.1.0-py3-none-any.whl"
    wheel.write_bytes(b"")
    info = site / "mmp_toolkit-0.1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: mmp-toolkit\nVersion: 0.1.0\n")
    (info / "INSTALLER").write_text("pip\n")
    (info / "direct_url.json").write_text(json.dumps({"url": wheel.as_uri(), "archive_info": {}}))
    code = "from mmp.core.installation import installation; print(installation().install_extra('spark'))"
    done = subprocess.run(
        [sys.executable, "-S", "-c", f"import sys; sys.path.insert(0, {str(site)!r}); {code}"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == f"pip install '{wheel}[spark]'"


def test_long_name_lists_say_how_many_are_left_out() -> None:
    from mmp.core.suggest import some_of

    assert some_of(["a", "b"]) == "a, b"
    names = [f"c{i}" for i in range(35)]
    assert some_of(names).endswith("c29 and 5 more (35 in all)")
