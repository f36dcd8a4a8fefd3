"""The generated monitoring/ folder: Prometheus config and rules pass promtool, the alert rules match
`mmp status`'s defaults, the status config loads, the Grafana dashboard queries the recorded series."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest
import yaml

from mmp.core.latency import DEFAULT_LATENCY_BUCKETS_S, GOOD_MS, WARNING_MS
from mmp.scaffold.project import create_project
from mmp.status.config import (
    ErrorRateAbove,
    MemoryAbove,
    P95Above,
    TargetDown,
    default_rules,
    load_status_config,
)


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return create_project("sales-forecast", "regression", tmp_path_factory.mktemp("monitoring")).path


def _rules(project: Path) -> dict[str, dict]:
    groups = yaml.safe_load((project / "monitoring/rules/latency.rules.yml").read_text())["groups"]
    return {r.get("alert") or r["record"]: r for g in groups for r in g["rules"]}


def test_promtool_accepts_the_config_and_the_rules(project: Path, promtool: str) -> None:
    for args in (["check", "config"], ["check", "rules"]):
        target = "monitoring/prometheus.yml" if args[1] == "config" else "monitoring/rules/latency.rules.yml"
        done = subprocess.run(
            [promtool, *args, target], cwd=project, capture_output=True, text=True, timeout=60
        )
        assert done.returncode == 0, done.stdout + done.stderr


def test_promtool_unit_test_fires_the_latency_and_down_alerts(
    project: Path, tmp_path: Path, promtool: str
) -> None:
    """Synthetic series through the real rules: a model slower than 200 ms and a dead api fire."""
    slow = 'mmp_request_duration_seconds_bucket{route="/predict",model_name="m",model_version="1",le="%s"}'
    series = [
        {"series": slow % "0.1", "values": "0+0x20"},
        {"series": slow % "0.2", "values": "0+1x20"},
        {"series": slow % "0.3", "values": "0+10x20"},
        {"series": slow % "+Inf", "values": "0+10x20"},
        {"series": 'up{job="api",instance="api:8000"}', "values": "0x20"},
    ]
    tests = {
        "rule_files": [str(project / "monitoring/rules/latency.rules.yml")],
        "evaluation_interval": "1m",
        "tests": [
            {
                "interval": "1m",
                "input_series": series,
                "alert_rule_test": [
                    {"eval_time": "4m", "alertname": "MmpLatencyP95High", "exp_alerts": []},
                    {
                        "eval_time": "12m",
                        "alertname": "MmpLatencyP95High",
                        "exp_alerts": [
                            {
                                "exp_labels": {
                                    "severity": "warning",
                                    "model_name": "m",
                                    "model_version": "1",
                                },
                                "exp_annotations": {
                                    "summary": "m v1: p95 latency 294.4ms > 200ms",
                                },
                            }
                        ],
                    },
                    {
                        "eval_time": "5m",
                        "alertname": "MmpApiDown",
                        "exp_alerts": [
                            {
                                "exp_labels": {"severity": "critical", "job": "api", "instance": "api:8000"},
                                "exp_annotations": {
                                    "summary": "api:8000 has not answered /metrics for 3 minutes"
                                },
                            }
                        ],
                    },
                ],
            }
        ],
    }
    path = tmp_path / "latency.test.yml"
    path.write_text(yaml.safe_dump(tests), encoding="utf-8")
    done = subprocess.run([promtool, "test", "rules", str(path)], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stdout + done.stderr


def test_alert_rules_match_the_status_defaults(project: Path) -> None:
    rules = _rules(project)
    defaults = {type(r): r for r in default_rules()}
    p95, errors, down, memory = (defaults[k] for k in (P95Above, ErrorRateAbove, TargetDown, MemoryAbove))
    assert rules["MmpLatencyP95High"]["expr"].endswith(f"> {p95.threshold_ms / 1000:g}")
    assert rules["MmpLatencyP95High"]["for"] == f"{p95.for_intervals}m"  # the status default interval is 60 s
    assert rules["MmpErrorRateHigh"]["expr"].endswith(f"> {errors.threshold:g}")
    assert rules["MmpErrorRateHigh"]["for"] == f"{errors.for_intervals}m"
    assert rules["MmpApiDown"]["for"] == f"{down.for_intervals}m"
    assert rules["MmpMemoryHigh"]["expr"].endswith(f"> {memory.share:g}")
    assert f'le="{GOOD_MS / 1000:g}"' in rules["mmp:requests_under_100ms:ratio_rate5m"]["expr"]
    assert GOOD_MS / 1000 in DEFAULT_LATENCY_BUCKETS_S and WARNING_MS / 1000 in DEFAULT_LATENCY_BUCKETS_S


def test_status_config_loads_and_targets_the_api(project: Path) -> None:
    config = load_status_config(project / "monitoring/status.yaml")
    assert [(t.name, t.url) for t in config.targets] == [("sales_forecast", "http://api:8000")]
    assert config.alerts.rules == default_rules()
    assert (config.thresholds.good_ms, config.thresholds.warning_ms) == (GOOD_MS, WARNING_MS)


def test_dashboard_queries_the_recorded_series(project: Path) -> None:
    dashboard = json.loads((project / "monitoring/grafana/dashboards/mmp-latency.json").read_text())
    exprs = " ".join(t["expr"] for p in dashboard["panels"] for t in p["targets"])
    recorded = {name for name in _rules(project) if name.startswith("mmp:")}
    assert recorded <= set(exprs.replace("{", " ").split()), recorded
    compose = yaml.safe_load((project / "docker-compose.yml").read_text())
    services = compose["services"]
    assert services["prometheus"]["profiles"] == ["monitoring"] == services["grafana"]["profiles"]
    assert services["status"]["command"] == ["status", "--config", "monitoring/status.yaml"]
    assert "profiles" not in services["status"]
