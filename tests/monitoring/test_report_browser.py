"""The HTML report in a real headless Chromium with no network: charts and status table render."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from mmp.monitoring.profile import ReferenceProfile
from mmp.monitoring.run import MonitorJob, run_monitor

REPO = Path(__file__).resolve().parents[2]
ARTIFACTS = REPO / "test-artifacts"
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


def chromium(*args: str, profile_dir: Path) -> subprocess.CompletedProcess[str]:
    assert CHROMIUM is not None
    flags = [
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--no-first-run",
        "--disable-dev-shm-usage",
        # any request leaving the machine fails: the report must need none
        "--proxy-server=127.0.0.1:9",
        "--proxy-bypass-list=<-loopback>",
        f"--user-data-dir={profile_dir}",
    ]
    return subprocess.run([CHROMIUM, *flags, *args], capture_output=True, text=True, timeout=120)


@pytest.mark.slow
@pytest.mark.skipif(CHROMIUM is None, reason="chromium is not installed (apt-get install chromium)")
def test_report_renders_offline_in_headless_chromium(
    reference: tuple[ReferenceProfile, Path], shifted_log: Path, tmp_path: Path
) -> None:
    report = tmp_path / "report.html"
    run_monitor(
        MonitorJob(data=str(shifted_log), reference_profile=str(reference[1]), report_path=str(report))
    )
    dom = chromium("--dump-dom", report.as_uri(), profile_dir=tmp_path / "chrome-dom")
    assert dom.returncode == 0, dom.stderr[-2000:]
    html = dom.stdout
    assert 'id="status-table"' in html
    assert html.count("<tr>") >= 31  # header + 30 windows
    assert html.count('class="chart line-chart"') >= 6  # performance, prediction, 5 columns
    assert 'class="chart bar-chart"' in html and "<polyline" in html
    ARTIFACTS.mkdir(exist_ok=True)
    shot = ARTIFACTS / "monitor-report.png"
    shot.unlink(missing_ok=True)
    done = chromium(
        f"--screenshot={shot}",
        "--window-size=1280,2400",
        report.as_uri(),
        profile_dir=tmp_path / "chrome-shot",
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert shot.stat().st_size > 20_000  # a rendered page, not a blank one
