"""The generated monitoring/ folder beyond `promtool check`: the reload alert on a counter's first
appearance, and a Grafana dashboard whose every query parses and names only series that exist.

Grafana itself is not run (no image registry, no Debian package): its dashboard is checked as data.
The dashboard's queries are also evaluated against a real Prometheus in test_alerts_end_to_end.py.
"""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from mmp.scaffold.project import create_project
from mmp.serving.metrics import ServingMetrics

SUMMARY = "api:8000 failed to load version %s; the previous version keeps serving"


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return create_project("rules-check", "classification", tmp_path_factory.mktemp("rules")).path


def _run(*args: str) -> None:
    done = subprocess.run(args, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stdout + done.stderr


def dashboard_queries(project: Path, model: str = ".+") -> list[str]:
    """Every PromQL expression of the dashboard's panels, its `$model` variable expanded as Grafana
    does (a regex of the chosen names; ".+" for All)."""
    dashboard = json.loads((project / "monitoring/grafana/dashboards/mmp-latency.json").read_text())
    return [t["expr"].replace("$model", model) for p in dashboard["panels"] for t in p["targets"]]


def test_reload_failed_fires_when_the_counter_first_appears(
    project: Path, tmp_path: Path, promtool: str
) -> None:
    """A server's first failed reload of a version creates the counter at 1; increase() alone sees 0."""
    failed = 'mmp_model_events_total{event="reload_failed",model_version="%s",instance="api:8000"}'
    tests = {
        "rule_files": [str(project / "monitoring/rules/latency.rules.yml")],
        "evaluation_interval": "1m",
        "tests": [
            {
                "interval": "1m",
                "input_series": [
                    {"series": failed % "3", "values": "1x60"},  # an old failure, never repeated
                    {"series": failed % "7", "values": "_x15 1x45"},  # appears at 15m, never grows
                ],
                "alert_rule_test": [
                    {"eval_time": "12m", "alertname": "MmpReloadFailed", "exp_alerts": []},
                    {
                        "eval_time": "16m",
                        "alertname": "MmpReloadFailed",
                        "exp_alerts": [
                            {
                                "exp_labels": {
                                    "severity": "warning",
                                    "event": "reload_failed",
                                    "model_version": "7",
                                    "instance": "api:8000",
                                },
                                "exp_annotations": {"summary": SUMMARY % "7"},
                            }
                        ],
                    },
                    {"eval_time": "30m", "alertname": "MmpReloadFailed", "exp_alerts": []},
                ],
            }
        ],
    }
    path = tmp_path / "reload.test.yml"
    path.write_text(yaml.safe_dump(tests), encoding="utf-8")
    _run(promtool, "test", "rules", str(path))


def test_every_dashboard_query_parses(project: Path, tmp_path: Path, promtool: str) -> None:
    """promtool parses each panel's expression (as a recording rule: promtool has no parse-only mode)."""
    queries = dashboard_queries(project)
    rules = [{"record": f"dashboard:panel_{i}", "expr": e} for i, e in enumerate(queries)]
    path = tmp_path / "dashboard.rules.yml"
    path.write_text(yaml.safe_dump({"groups": [{"name": "dashboard", "rules": rules}]}), encoding="utf-8")
    _run(promtool, "check", "rules", str(path))


def _series_names(expr: str) -> set[str]:
    without_strings = re.sub(r'"[^"]*"', '""', expr)
    without_labels = re.sub(r"\{[^}]*\}", "", without_strings)
    words = set(re.findall(r"[a-zA-Z_:][a-zA-Z0-9_:]*", without_labels))
    keywords = {"max", "by", "sum", "rate", "histogram_quantile", "name", "version", "le"}
    return words - keywords


def test_dashboard_names_only_recorded_or_served_series(project: Path) -> None:
    groups = yaml.safe_load((project / "monitoring/rules/latency.rules.yml").read_text())["groups"]
    recorded = {r["record"] for g in groups for r in g["rules"] if "record" in r}
    served = {m.name for m in ServingMetrics().registry.collect()}
    known = recorded | served | {"up"}
    for expr in dashboard_queries(project):
        assert _series_names(expr) <= known, (expr, _series_names(expr) - known)
    dashboard: dict[str, Any] = json.loads(
        (project / "monitoring/grafana/dashboards/mmp-latency.json").read_text()
    )
    [variable] = dashboard["templating"]["list"]
    assert re.search(r"label_values\((\w+), model_name\)", variable["query"])[1] in {  # type: ignore[index]
        f"{m}_count" for m in served
    }
    # the panels' data source is the provisioned one, and the provider reads the mounted folder
    datasources = yaml.safe_load(
        (project / "monitoring/grafana/provisioning/datasources/prometheus.yml").read_text()
    )["datasources"]
    uids = {d["uid"] for d in datasources}
    assert {p["datasource"]["uid"] for p in dashboard["panels"]} <= uids
    assert {t["datasource"]["uid"] for p in dashboard["panels"] for t in p["targets"]} <= uids
    provider = yaml.safe_load((project / "monitoring/grafana/provisioning/dashboards/mmp.yml").read_text())
    compose = yaml.safe_load((project / "docker-compose.yml").read_text())
    mounts = compose["services"]["grafana"]["volumes"]
    assert f"./monitoring/grafana/dashboards:{provider['providers'][0]['options']['path']}:ro" in mounts
