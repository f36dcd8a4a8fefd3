"""The memory alert for real: the project's api image under a container memory limit reports its use
and limit in /metrics, and `mmp status`'s `memory_above` rule fires on them (once) to a webhook.

Outside a container with a limit the server reports no limit, so this is the only place the rule's
input is real; tests/status/test_alerts_end_to_end.py checks that nothing is sent without one.
"""

from __future__ import annotations

import urllib.request
from pathlib import Path

import pytest

from mmp.status.collector import Collector
from mmp.status.config import StatusConfig
from mmp.status.store import Store
from tests.docker.conftest import TAG, Built, wait_healthy
from tests.ports import free_port
from tests.status.conftest import run_ticks
from tests.status.fakes import WebhookReceiver

pytestmark = [pytest.mark.docker, pytest.mark.slow]

LIMIT_BYTES = 768 * 2**20


def _sample(text: str, name: str) -> float | None:
    found = [line.split()[-1] for line in text.splitlines() if line.startswith(name + " ")]
    return float(found[0]) if found else None


def test_memory_alert_fires_for_a_container_under_a_limit(
    built: Built, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    engine, port = built.engine, free_port()
    name = f"mmp-e2e-memory-{port}"
    engine.docker(
        "run", "-d", "--name", name, "--memory", str(LIMIT_BYTES), "-p", f"127.0.0.1:{port}:8000",
        "--health-interval", "1s", TAG,
    )  # fmt: skip
    hook = WebhookReceiver()
    try:
        wait_healthy(engine, name)
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=30) as response:
            metrics = response.read().decode()
        used = _sample(metrics, "mmp_memory_used_bytes")
        assert _sample(metrics, "mmp_memory_limit_bytes") == LIMIT_BYTES, metrics[-2000:]
        assert used is not None and 0 < used < LIMIT_BYTES

        monkeypatch.setenv("MMP_STATUS_WEBHOOK_URL", f"{hook.url}/hook")
        share = used / LIMIT_BYTES / 2  # well below what the server uses: the rule must fire
        config = StatusConfig.model_validate(
            {
                "interval_s": 1,
                "targets": [{"name": "shop", "url": f"http://127.0.0.1:{port}"}],
                "alerts": {
                    "format": "json",
                    "rules": [{"kind": "memory_above", "share": share, "for_intervals": 2}],
                },
            }
        )
        collector = Collector(config, Store(f"sqlite:///{tmp_path / 'status.db'}"))
        run_ticks([collector], [1000.0, 1001.0, 1002.0, 1003.0])
        [fired] = hook.received
        assert (fired["rule"], fired["status"], fired["model"]) == ("memory_above", "firing", "shop")
        assert share < fired["value"] < 1
    finally:
        hook.close()
        engine.docker("rm", "-f", name, check=False)
