"""The HTML status page: one tile per model and a 24 h chart each, drawn as inline SVG on the
server (no script, no CDN), refreshed by the browser every interval."""

from __future__ import annotations

import html
from datetime import datetime
from typing import Any

from mmp.status.config import StatusConfig

COLOURS = {
    "good": "#1a7f37",
    "warning": "#9a6700",
    "danger": "#cf222e",
    "down": "#57606a",
    "unknown": "#8c959f",
    "no_data": "#8c959f",
}
LABELS = {
    "good": "good",
    "warning": "warning",
    "danger": "danger",
    "down": "down",
    "unknown": "not scraped yet",
    "no_data": "no traffic",
}
WIDTH, HEIGHT, PAD = 320, 90, 4
SERIES = (("p50_ms", "#0969da"), ("p95_ms", "#8250df"), ("p99_ms", "#bc4c00"))

_STYLE = """
body{font-family:system-ui,sans-serif;margin:1.5rem;background:#f6f8fa;color:#1f2328}
h1{font-size:1.3rem;margin:0 0 .2rem} .meta{color:#57606a;font-size:.85rem;margin-bottom:1rem}
.tiles{display:flex;flex-wrap:wrap;gap:1rem}
.tile{width:340px;border-radius:8px;background:#fff;box-shadow:0 1px 3px #0002;overflow:hidden}
.head{color:#fff;padding:.6rem .8rem} .head h2{margin:0;font-size:1.1rem}
.head .state{font-size:.8rem;text-transform:uppercase;letter-spacing:.05em}
.nums{display:flex;justify-content:space-between;padding:.5rem .8rem;font-variant-numeric:tabular-nums}
.nums b{display:block;font-size:1.1rem} .nums span{font-size:.75rem;color:#57606a}
.info{font-size:.8rem;color:#57606a;padding:0 .8rem .4rem} svg{display:block;margin:0 .6rem .6rem}
.alerts{margin-top:1.5rem;font-size:.9rem} .alerts li.firing{color:#cf222e}
"""


def _fmt(value: float | None) -> str:
    """Milliseconds that fit five to a tile: one decimal below a second, none above."""
    if value is None:
        return "–"
    return f"{value:.1f}" if value < 1000 else f"{value:.0f}"


def _chart(
    points: list[dict[str, Any]], reloads: list[float], start: float, end: float, cfg: StatusConfig
) -> str:
    span = max(end - start, 1.0)
    top = max(
        [
            cfg.thresholds.warning_ms * 1.25,
            *(p[key] for p in points for key, _ in SERIES if p[key] is not None),
        ]
    )

    def x(ts: float) -> float:
        return PAD + (WIDTH - 2 * PAD) * (ts - start) / span

    def y(ms: float) -> float:
        return HEIGHT - PAD - (HEIGHT - 2 * PAD) * min(ms, top) / top

    parts = [
        f'<svg width="{WIDTH}" height="{HEIGHT}" viewBox="0 0 {WIDTH} {HEIGHT}" role="img" '
        f'aria-label="latency over 24 hours"><rect width="{WIDTH}" height="{HEIGHT}" fill="#fafbfc"/>'
    ]
    for limit, colour in (
        (cfg.thresholds.good_ms, COLOURS["good"]),
        (cfg.thresholds.warning_ms, COLOURS["danger"]),
    ):
        parts.append(
            f'<line x1="{PAD}" x2="{WIDTH - PAD}" y1="{y(limit):.1f}" y2="{y(limit):.1f}" '
            f'stroke="{colour}" stroke-dasharray="3 3" stroke-width="1"/>'
        )
    for ts in reloads:
        parts.append(
            f'<line class="reload" x1="{x(ts):.1f}" x2="{x(ts):.1f}" y1="{PAD}" y2="{HEIGHT - PAD}" '
            'stroke="#57606a" stroke-width="1"><title>new version</title></line>'
        )
    for key, colour in SERIES:
        coords = [(x(p["ts"]), y(p[key])) for p in points if p[key] is not None]
        if len(coords) == 1:  # a line needs two points: a first step shows as a dot
            parts.append(f'<circle cx="{coords[0][0]:.1f}" cy="{coords[0][1]:.1f}" r="2" fill="{colour}"/>')
        elif coords:
            line = " ".join(f"{cx:.1f},{cy:.1f}" for cx, cy in coords)
            parts.append(f'<polyline fill="none" stroke="{colour}" stroke-width="1.5" points="{line}"/>')
    parts.append("</svg>")
    return "".join(parts)


def render_tiles(
    cfg: StatusConfig,
    tiles: list[dict[str, Any]],
    history: dict[str, list[dict[str, Any]]],
    reloads: dict[str, list[float]],
    now: float,
) -> str:
    """The tiles with their 24 h charts: the costly part, computed once per collection."""
    body = []
    for tile in tiles:
        name = tile["model_name"]
        state = tile["state"]
        version = tile["model_version"] or "–"
        reloaded = tile["reloaded_at"] or "–"
        problem = f'<div class="info">{html.escape(tile["error"])}</div>' if tile["error"] else ""
        rate = "–" if tile["error_rate"] is None else f"{100 * tile['error_rate']:.1f}%"
        body.append(
            f'<section class="tile {state}" id="{html.escape(name)}" data-state="{state}">'
            f'<div class="head" style="background:{COLOURS[state]}"><h2>{html.escape(name)}</h2>'
            f'<div class="state">{LABELS[state]}</div></div>'
            '<div class="nums">'
            f'<div><b class="p50">{_fmt(tile["p50_ms"])}</b><span>p50 ms</span></div>'
            f'<div><b class="p95">{_fmt(tile["p95_ms"])}</b><span>p95 ms</span></div>'
            f'<div><b class="p99">{_fmt(tile["p99_ms"])}</b><span>p99 ms</span></div>'
            f"<div><b>{tile['request_rate']:g}</b><span>req/s</span></div>"
            f"<div><b>{rate}</b><span>errors</span></div></div>"
            f'<div class="info">version <b class="version">{html.escape(str(version))}</b> · reloaded '
            f"{html.escape(reloaded)}</div>{problem}"
            f"{_chart(history.get(name, []), reloads.get(name, []), now - 86400, now, cfg)}</section>"
        )
    return "".join(body)


def render(
    cfg: StatusConfig, tiles_html: str, alerts: list[dict[str, Any]], now: float, last_updated: str | None
) -> str:
    refresh = max(5, min(60, round(cfg.interval_s)))
    alert_items = "".join(
        f'<li class="{a["state"]}">{html.escape(a["state"])} · {html.escape(a["fired_at"] or "")} · '
        f"{html.escape(a['message'])}</li>"
        for a in alerts[:20]
    )
    stamp = datetime.fromtimestamp(now).strftime("%Y-%m-%d %H:%M:%S")
    return (
        "<!doctype html><html lang=en><head><meta charset=utf-8>"
        f'<meta http-equiv="refresh" content="{refresh}"><title>mmp status</title>'
        f'<meta name="viewport" content="width=device-width,initial-scale=1"><style>{_STYLE}</style></head>'
        "<body><h1>Model latency and health</h1>"
        f"<div class=meta>p95 good &lt; {cfg.thresholds.good_ms:g} ms, "
        f"warning &lt; {cfg.thresholds.warning_ms:g} ms · current = last {cfg.current_window_s:g} s · "
        f"last collection {html.escape(last_updated or 'not yet')} · page {stamp} · charts: 24 h p50 "
        f'(blue) p95 (purple) p99 (orange)</div><div class="tiles">{tiles_html}</div>'
        f'<div class="alerts"><h2>Alerts</h2><ul>{alert_items or "<li>none</li>"}</ul></div></body></html>'
    )
