"""Alerts on a real server, seen by `mmp status` and by a real Prometheus with the generated rules.

One `mmp serve-api` follows `models:/status_troubled@champion` (a real mmp-trained model whose
`predict` raises while a flag file exists), one `mmp status` posts to a local webhook receiver, and
Debian's `prometheus` scrapes the same server with a generated project's recording and alert rules:

- error rate: the model fails for a while (real 500s), `error_rate_above` fires once and resolves
  once; Prometheus records the error ratio and holds `MmpErrorRateHigh` pending (its `for: 3m`);
- reload failure: the alias moves to a version that cannot be served, `reload_failed` fires once,
  the old version keeps answering, and Prometheus fires `MmpReloadFailed`; the alias moves back and
  the alert resolves once;
- latency: Prometheus' recorded p95 per model and version is within one histogram bucket of the
  load's own timings, and every query of the generated Grafana dashboard finds series;
- memory: reported only under a cgroup memory limit; the rule is checked against whatever this
  machine has (a container with a limit fires it, a host without one reports nothing; the image
  under `docker run --memory` is tests/docker/test_memory_limit.py).
"""

from __future__ import annotations

import math
import shutil
import subprocess
import time
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from mmp.scaffold.project import create_project
from mmp.serving.metrics import container_memory
from tests.ports import free_port
from tests.status.fakes import WebhookReceiver
from tests.status.processes import (
    bucket,
    example,
    load,
    process,
    ready,
    serve,
    status_fresh,
    wait,
)
from tests.status.test_prometheus_rules import dashboard_queries

pytestmark = pytest.mark.slow

INTERVAL_S = 0.5


def _register_unservable(tracking_uri: str, name: str) -> str:
    """A version mmp did not train (no feature contract): a server refuses to swap it in."""
    import mlflow
    from sklearn.dummy import DummyRegressor

    mlflow.set_tracking_uri(tracking_uri)
    with mlflow.start_run():
        info = mlflow.sklearn.log_model(DummyRegressor().fit([[0.0]], [1.0]), name="model")
    return str(mlflow.register_model(info.model_uri, name).version)


def _prometheus_config(project: Path, api_port: int, folder: Path) -> Path:
    """The generated prometheus.yml, pointed at this server and made fast (1 s scrapes)."""
    config = yaml.safe_load((project / "monitoring/prometheus.yml").read_text(encoding="utf-8"))
    config["global"] = {"scrape_interval": "1s", "evaluation_interval": "1s"}
    config["rule_files"] = [str(project / "monitoring" / pattern) for pattern in config["rule_files"]]
    [job] = config["scrape_configs"]
    job["static_configs"][0]["targets"] = [f"127.0.0.1:{api_port}"]
    path = folder / "prometheus.yml"
    path.write_text(yaml.safe_dump(config), encoding="utf-8")
    return path


class Prometheus:
    def __init__(self, port: int) -> None:
        self.url = f"http://127.0.0.1:{port}"

    def query(self, expr: str) -> list[dict[str, Any]]:
        body = httpx.get(f"{self.url}/api/v1/query", params={"query": expr}, timeout=5).json()
        assert body["status"] == "success", body
        return list(body["data"]["result"])

    def value(self, expr: str) -> float | None:
        found = self.query(expr)
        return float(found[0]["value"][1]) if found else None

    def alert_state(self, name: str) -> str | None:
        alerts = httpx.get(f"{self.url}/api/v1/alerts", timeout=5).json()["data"]["alerts"]
        return next((a["state"] for a in alerts if a["labels"]["alertname"] == name), None)


def _sample(metrics: str, name: str) -> float | None:
    found = [line.split()[-1] for line in metrics.splitlines() if line.startswith(name + " ")]
    return float(found[0]) if found else None


def _received(hook: WebhookReceiver, rule: str, status: str) -> list[dict[str, Any]]:
    return [m for m in hook.received if m["rule"] == rule and m["status"] == status]


def test_alerts_fire_once_on_a_real_server_and_prometheus_records_the_rules(
    troubled_model: str, session_store: tuple[str, Path], tmp_path: Path
) -> None:
    binary = shutil.which("prometheus")
    if binary is None:
        pytest.skip("prometheus not installed (apt-get install prometheus)")
    import mlflow

    tracking_uri, config_path = session_store
    name, version = troubled_model.removeprefix("models:/").split("/")
    client = mlflow.MlflowClient(tracking_uri)
    client.set_registered_model_alias(name, "champion", version)
    project = create_project("alerts-check", "regression", tmp_path / "project").path
    flag = tmp_path / "feature-store-down"
    port, port_status, port_prom = free_port(), free_port(), free_port()
    memory = container_memory()  # the server runs in this process' cgroup
    hook = WebhookReceiver()
    status_yaml = tmp_path / "status.yaml"
    status_yaml.write_text(
        f"""
interval_s: {INTERVAL_S}
current_window_s: 600
targets: [{{name: {name}, url: "http://127.0.0.1:{port}"}}]
alerts:
  format: json
  rules:
    - {{kind: error_rate_above, threshold: 0.05, for_intervals: 1, resolve_intervals: 4}}
    - {{kind: reload_failed, resolve_intervals: 6}}  # 3 s: longer than the server's first retry (2 s)
    - {{kind: memory_above, share: 0.000001, for_intervals: 1}}  # any reported use is above it
""",
        encoding="utf-8",
    )
    status_env = {
        "MMP_STATUS_DATABASE_URL": f"sqlite:///{tmp_path / 'status.db'}",
        "MMP_STATUS_WEBHOOK_URL": f"{hook.url}/hook",
    }
    prom = Prometheus(port_prom)
    with ExitStack() as stack:
        stack.callback(hook.close)
        serve(
            stack,
            port,
            f"models:/{name}@champion",
            config_path,
            "--reload-interval",
            "0.5",
            env={"TROUBLED_MODEL_FAIL_FLAG": str(flag)},
        )
        prom_config = _prometheus_config(project, port, tmp_path)
        prometheus = subprocess.Popen(
            [
                binary,
                f"--config.file={prom_config}",
                f"--storage.tsdb.path={tmp_path / 'tsdb'}",
                f"--web.listen-address=127.0.0.1:{port_prom}",
            ],
            stdout=subprocess.DEVNULL,
            stderr=stack.enter_context((tmp_path / "prometheus.log").open("wb")),
        )
        stack.callback(lambda: (prometheus.terminate(), prometheus.wait(20)))
        wait(lambda: ready(port), "the model server", timeout_s=240)
        stack.enter_context(
            process(["status", "-c", str(status_yaml), "--port", str(port_status)], status_env)
        )
        wait(
            lambda: prom.value(f'up{{job="api",instance="127.0.0.1:{port}"}}') == 1, "Prometheus' scrape", 60
        )
        wait(lambda: status_fresh(port_status), "mmp status")
        started = time.monotonic()

        # latency: requests over a few scrapes (rate() needs two samples of a series after it appears)
        timings: list[float] = []
        while time.monotonic() - started < 3:
            timings += load(port, 20)
        loaded = time.time()
        recorded = f'mmp:request_latency_seconds:p95{{model_name="{name}",model_version="{version}"}}'
        # read once Prometheus has scraped the end of the load and evaluated the rules on it
        wait(lambda: (prom.value(f"timestamp({recorded})") or 0) > loaded + 1.5, recorded, 30)
        p95 = prom.value(recorded)
        assert p95 is not None and p95 > 0, p95
        own = sorted(timings)[math.ceil(0.95 * len(timings)) - 1]
        # not exact: rate() skips the calls made before the series' first scrape, and
        # histogram_quantile interpolates inside a bucket
        assert abs(bucket(p95) - bucket(own)) <= 2, (p95, own)
        assert (prom.value(f'mmp:requests:rate5m{{model_name="{name}"}}') or 0) > 0
        print(f"p95 recorded by Prometheus {p95:.4f}s, own {own:.4f}s, at {time.monotonic() - started:.1f}s")

        # error rate: the feature store is down for a few seconds, every call is a real 500
        flag.touch()
        failing = time.monotonic()
        while time.monotonic() - failing < 3:
            load(port, 10, status=500)
        flag.unlink()
        assert (
            httpx.post(f"http://127.0.0.1:{port}/predict", json=example(port), timeout=10).status_code == 200
        )
        wait(lambda: _received(hook, "error_rate_above", "firing"), "the error-rate alert", 20)
        ratio = f'mmp:request_errors:ratio_rate5m{{model_name="{name}"}}'
        wait(lambda: (prom.value(ratio) or 0) > 0.05, "the recorded error ratio", 20)
        wait(lambda: prom.alert_state("MmpErrorRateHigh") == "pending", "MmpErrorRateHigh pending", 20)
        wait(lambda: _received(hook, "error_rate_above", "resolved"), "the error-rate resolution", 20)
        # the Grafana dashboard's queries (Grafana itself cannot run here) all find series
        for expr in dashboard_queries(project, model=name):
            assert prom.query(expr), expr
        values = httpx.get(
            f"{prom.url}/api/v1/label/model_name/values",
            params={"match[]": "mmp_request_duration_seconds_count"},
            timeout=5,
        ).json()["data"]
        assert name in values  # the dashboard's $model variable lists the model
        print(f"error rate alert fired and resolved at {time.monotonic() - started:.1f}s")

        # reload failure: the alias moves to a version the server cannot serve; the old one stays
        broken = _register_unservable(tracking_uri, name)
        client.set_registered_model_alias(name, "champion", broken)
        wait(lambda: _received(hook, "reload_failed", "firing"), "the reload-failure alert", 30)
        answer = httpx.post(f"http://127.0.0.1:{port}/predict", json=example(port), timeout=10)
        assert answer.status_code == 200 and answer.json()["model"]["version"] == version
        client.set_registered_model_alias(name, "champion", version)  # fixed before the server retries
        wait(lambda: prom.alert_state("MmpReloadFailed") == "firing", "MmpReloadFailed firing", 20)
        wait(lambda: _received(hook, "reload_failed", "resolved"), "the reload-failure resolution", 20)
        print(f"reload failure alert fired and resolved at {time.monotonic() - started:.1f}s")

        metrics = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=5).text
        limit = _sample(metrics, "mmp_memory_limit_bytes")
        if memory is None:  # no cgroup memory limit here: no limit reported, nothing to alert on
            assert not limit, metrics
            assert not [m for m in hook.received if m["rule"] == "memory_above"]
        else:
            assert limit == memory[1]
            wait(lambda: _received(hook, "memory_above", "firing"), "the memory alert", 20)

    for rule in ("error_rate_above", "reload_failed"):  # exactly one message each way
        assert len(_received(hook, rule, "firing")) == 1, hook.received
        assert len(_received(hook, rule, "resolved")) == 1, hook.received
    assert all(m["model"] == name and m["url"].endswith(f"#{name}") for m in hook.received)
