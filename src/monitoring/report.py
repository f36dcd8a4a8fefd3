"""The HTML report: one self-contained file (inline SVG and CSS, no script, no network).

Built from the JSON document alone, so a report can be re-rendered from a saved `--json` output.
"""

from __future__ import annotations

from html import escape
from typing import Any

PALETTE = ("#2563eb", "#f97316", "#16a34a", "#9333ea", "#dc2626", "#0891b2", "#ca8a04", "#db2777", "#4b5563")
CSS = """
body{font:14px/1.45 system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:24px;color:#111827;
max-width:1200px}
h1{font-size:22px;margin:0 0 4px} h2{font-size:18px;margin:28px 0 8px;border-bottom:1px solid #e5e7eb}
h3{font-size:15px;margin:16px 0 4px}
.muted{color:#6b7280} .badge{display:inline-block;padding:2px 10px;border-radius:10px;font-weight:600}
.ok{background:#dcfce7;color:#166534} .alert{background:#fee2e2;color:#991b1b}
.too_few_rows{background:#f3f4f6;color:#374151}
.warn{background:#fef9c3;color:#854d0e;padding:8px;border-radius:6px}
table{border-collapse:collapse;margin:8px 0} td,th{border:1px solid #e5e7eb;padding:3px 8px;text-align:right}
th{background:#f9fafb} td:first-child,th:first-child{text-align:left}
.column{display:flex;gap:16px;flex-wrap:wrap;align-items:flex-start;margin-bottom:12px}
svg{background:#fff;border:1px solid #e5e7eb} svg text{font:11px system-ui,sans-serif;fill:#374151}
ul.alerts{margin:4px 0 0 18px;padding:0}
"""


def render_html(doc: dict[str, Any]) -> str:
    doc["windows"]
    model = doc["model"]
    title = f"mmp monitor · {model.get('name')}" + (f" v{model['version']}" if model.get("version") else "")
    parts = [
        "<!doctype html><html lang='en'><head><meta charset='utf-8'>",
        f"<title>{escape(title)}</title><style>{CSS}</style></head><body>",
        f"<h1>{escape(title)} <span class='badge {doc['status']}' id='overall-status'>"
        f"{escape(doc['status'].upper())}</span></h1>",
        f"<div class='muted'>data: {escape(str(doc['data']))}"
        f" · window: {escape(str(doc['window'] or 'all rows'))}"
        f" · reference: {escape(str(doc['reference']['source']))} ({doc['reference']['rows']} rows)"
        f" · generated {escape(doc['generated_at'])}</div>",
        _calibration_note(doc),
        "<h2>Summary</h2>",
        _status_table(doc),
        _alerts(doc),
        "<h2>Performance</h2>",
        _performance(doc),
        "<h2>Prediction</h2>",
        _prediction(doc),
        "<h2>Input columns</h2>",
        _columns(doc),
        "</body></html>",
    ]
    return "\n".join(p for p in parts if p)


def _calibration_note(doc: dict[str, Any]) -> str:
    cal = doc["calibration"]
    if doc["model"]["task"] != "classification":
        return ""
    if not cal["checked"]:
        return (
            "<p class='warn'>Calibration unknown (no validation probabilities): estimated metrics are "
            "not trusted.</p>"
        )
    if not cal["calibrated"]:
        return (
            f"<p class='warn' id='calibration-warning'>The model is <b>not calibrated</b> on its validation "
            f"split (expected calibration error {cal['ece']:.3f} &gt; {cal['tolerance']:g}): estimated "
            "metrics are shown for information and never raise an alert.</p>"
        )
    return (
        f"<p class='muted'>Calibrated on the validation split (expected calibration error {cal['ece']:.3f} "
        f"≤ {cal['tolerance']:g}): estimated metrics are meaningful.</p>"
    )


def _label(window: dict[str, Any]) -> str:
    start = window["start"]
    return start[:16].replace("T", " ") if start else "all rows"


def _fmt(value: Any, digits: int = 3) -> str:
    if value is None:
        return "–"
    if isinstance(value, float):
        return f"{value:.{digits}f}"
    return escape(str(value))


def _status_table(doc: dict[str, Any]) -> str:
    rows = []
    for w in doc["windows"]:
        realized = w["realized"] or {}
        estimated = w["estimated"] or {}
        metric = realized.get("accuracy", realized.get("mae"))
        pred = w["prediction"].get("prediction", {})
        rows.append(
            "<tr>"
            f"<td>{escape(_label(w))}</td><td>{w['rows']}</td>"
            f"<td><span class='badge {w['status']}'>{escape(w['status'].replace('_', ' '))}</span></td>"
            f"<td>{len(w['drifted_columns'])} ({w['drift_share']:.0%})</td>"
            f"<td>{escape(', '.join(w['drifted_columns'][:5]))}</td>"
            f"<td>{_fmt(pred.get('psi'))}</td>"
            f"<td>{_fmt(metric)}</td><td>{realized.get('labeled_rows', 0)}</td>"
            f"<td>{_fmt(estimated.get('accuracy'))}</td>"
            "</tr>"
        )
    realized_name = "accuracy" if doc["model"]["task"] == "classification" else "MAE"
    return (
        "<table id='status-table'><thead><tr><th>window</th><th>rows</th><th>status</th>"
        "<th>drifted columns</th><th>which</th><th>prediction PSI</th>"
        f"<th>realized {realized_name}</th><th>labels</th><th>estimated accuracy</th></tr></thead>"
        f"<tbody>{''.join(rows)}</tbody></table>"
    )


def _alerts(doc: dict[str, Any]) -> str:
    if not doc["alerts"]:
        return "<p>No alert.</p>"
    items = "".join(
        f"<li><b>{escape(_label({'start': a['window']}))}</b>: {escape(a['message'])}</li>"
        for a in doc["alerts"][:200]
    )
    more = (
        f"<p class='muted'>{len(doc['alerts']) - 200} more in the JSON output.</p>"
        if len(doc["alerts"]) > 200
        else ""
    )
    return f"<h3>Alerts</h3><ul class='alerts'>{items}</ul>{more}"


def _performance(doc: dict[str, Any]) -> str:
    windows = doc["windows"]
    labels = [_label(w) for w in windows]
    series: dict[str, list[float | None]] = {}
    key = "accuracy" if doc["model"]["task"] == "classification" else "mae"
    series[f"realized {key}"] = [(w["realized"] or {}).get(key) for w in windows]
    if doc["model"]["task"] == "classification":
        series["estimated accuracy"] = [(w["estimated"] or {}).get("accuracy") for w in windows]
    if all(v is None for s in series.values() for v in s):
        return "<p class='muted'>No labels joined and no probabilities logged: no performance figures.</p>"
    baseline = doc["calibration"].get("validation_accuracy") if key == "accuracy" else None
    return line_chart(series, labels, f"performance per window ({key})", baseline, "validation")


def _prediction(doc: dict[str, Any]) -> str:
    windows = doc["windows"]
    labels = [_label(w) for w in windows]
    out = []
    for name in ("prediction", "confidence"):
        scored = [w["prediction"].get(name) for w in windows]
        if all(s is None for s in scored):
            continue
        psi = [s["psi"] if s else None for s in scored]
        limit = doc["settings"]["psi_threshold"]
        last = next(s for s in reversed(scored) if s)
        out.append(f"<h3>{escape(name)}</h3><div class='column'>")
        out.append(line_chart({"PSI": psi}, labels, f"{name}: PSI per window", limit, "threshold"))
        out.append(stacked_bars(windows, name, f"{name}: distribution per window"))
        out.append(bar_pair(last["distribution"], f"{name}: reference vs last window"))
        out.append("</div>")
    return "".join(out) or "<p class='muted'>The data has no prediction column.</p>"


def _columns(doc: dict[str, Any]) -> str:
    windows = doc["windows"]
    labels = [_label(w) for w in windows]
    settings = doc["settings"]
    names = list(windows[0]["columns"]) if windows else []
    # most drifted first: readers look at the top
    names.sort(key=lambda n: -max((w["columns"][n]["psi"] or 0.0) for w in windows))
    out = []
    for name in names:
        cols = [w["columns"][name] for w in windows]
        override = settings["columns"].get(name) or {}
        psi_limit = override.get("psi_threshold") or settings["psi_threshold"]
        dist_limit = override.get("distance_threshold") or settings["distance_threshold"]
        worst = max(range(len(cols)), key=lambda i: cols[i]["psi"] or 0.0)
        drifted = sum(1 for c in cols if c["drifted"])
        out.append(
            f"<h3 id='col-{escape(name)}'>{escape(name)} <span class='muted'>({cols[0]['kind']}; drifted in "
            f"{drifted} of {len(cols)} windows)</span></h3><div class='column'>"
        )
        out.append(
            line_chart(
                {"PSI": [c["psi"] for c in cols], cols[0]["distance_name"]: [c["distance"] for c in cols]},
                labels,
                f"{name}: drift per window",
                psi_limit,
                f"PSI threshold ({dist_limit:g} for {cols[0]['distance_name']})",
            )
        )
        out.append(bar_pair(cols[worst]["distribution"], f"{name}: reference vs {labels[worst]} (worst)"))
        out.append("</div>")
    return "".join(out)


# ------------------------------------------------------------------------------------------ charts

W, H, PAD_L, PAD_B, PAD_T, PAD_R = 460, 220, 44, 46, 24, 12


def line_chart(
    series: dict[str, list[float | None]],
    x_labels: list[str],
    title: str,
    threshold: float | None = None,
    threshold_label: str = "",
) -> str:
    values = [v for s in series.values() for v in s if v is not None]
    top = max([*values, threshold or 0.0, 1e-9]) * 1.1
    bottom = min([*values, 0.0])
    n = max(len(x_labels), 1)

    def x(i: int) -> float:
        return PAD_L + (W - PAD_L - PAD_R) * (i + 0.5) / n

    def y(v: float) -> float:
        return PAD_T + (H - PAD_T - PAD_B) * (1 - (v - bottom) / (top - bottom or 1))

    parts = [_frame(title, top, bottom, y)]
    if threshold is not None:
        parts.append(
            f"<line x1='{PAD_L}' x2='{W - PAD_R}' y1='{y(threshold):.1f}' y2='{y(threshold):.1f}' "
            "stroke='#dc2626' stroke-dasharray='4 3'/>"
            f"<text x='{W - PAD_R - 2}' y='{y(threshold) - 3:.1f}' text-anchor='end'>"
            f"{escape(threshold_label)}</text>"
        )
    for k, (name, points) in enumerate(series.items()):
        colour = PALETTE[k % len(PALETTE)]
        coords = [(x(i), y(v)) for i, v in enumerate(points) if v is not None]
        if len(coords) > 1:
            path = " ".join(f"{a:.1f},{b:.1f}" for a, b in coords)
            parts.append(f"<polyline fill='none' stroke='{colour}' stroke-width='2' points='{path}'/>")
        parts += [f"<circle cx='{a:.1f}' cy='{b:.1f}' r='2.5' fill='{colour}'/>" for a, b in coords]
        parts.append(
            f"<text x='{PAD_L + 4 + 110 * k}' y='{H - 6}' style='fill:{colour}'>■ {escape(name)}</text>"
        )
    parts.append(_x_labels(x_labels, x))
    return _svg("line-chart", title, parts)


def bar_pair(distribution: dict[str, list[Any]], title: str) -> str:
    bins, ref, cur = distribution["bins"], distribution["reference"], distribution["current"]
    top = max([*ref, *cur, 1e-9]) * 1.1
    n = max(len(bins), 1)
    slot = (W - PAD_L - PAD_R) / n

    def y(v: float) -> float:
        return PAD_T + (H - PAD_T - PAD_B) * (1 - v / top)

    parts = [_frame(title, top, 0.0, y)]
    for i in range(len(bins)):
        x0 = PAD_L + slot * i + slot * 0.1
        width = slot * 0.4
        for j, (share, colour) in enumerate(((ref[i], "#9ca3af"), (cur[i], PALETTE[0]))):
            parts.append(
                f"<rect x='{x0 + j * width:.1f}' y='{y(share):.1f}' width='{width:.1f}' "
                f"height='{y(0) - y(share):.1f}' fill='{colour}'><title>{escape(str(bins[i]))}: "
                f"{share:.1%}</title></rect>"
            )
    parts.append(_x_labels([str(b) for b in bins], lambda i: PAD_L + slot * (i + 0.5)))
    parts.append(
        f"<text x='{PAD_L + 4}' y='{H - 6}' style='fill:#6b7280'>■ reference</text>"
        f"<text x='{PAD_L + 90}' y='{H - 6}' style='fill:{PALETTE[0]}'>■ current</text>"
    )
    return _svg("bar-chart", title, parts)


def stacked_bars(windows: list[dict[str, Any]], name: str, title: str) -> str:
    n = max(len(windows), 1)
    slot = (W - PAD_L - PAD_R) / n

    def y(v: float) -> float:
        return PAD_T + (H - PAD_T - PAD_B) * (1 - v)

    parts = [_frame(title, 1.0, 0.0, y)]
    for i, w in enumerate(windows):
        scored = w["prediction"].get(name)
        if not scored:
            continue
        acc = 0.0
        for k, share in enumerate(scored["distribution"]["current"]):
            colour = PALETTE[k % len(PALETTE)]
            parts.append(
                f"<rect x='{PAD_L + slot * i + slot * 0.1:.1f}' y='{y(acc + share):.1f}' "
                f"width='{slot * 0.8:.1f}' "
                f"height='{y(acc) - y(acc + share):.1f}' fill='{colour}'><title>"
                f"{escape(str(scored['distribution']['bins'][k]))}: {share:.1%}</title></rect>"
            )
            acc += share
    parts.append(_x_labels([_label(w) for w in windows], lambda i: PAD_L + slot * (i + 0.5)))
    return _svg("stacked-chart", title, parts)


def _frame(title: str, top: float, bottom: float, y: Any) -> str:
    ticks = [bottom + (top - bottom) * k / 4 for k in range(5)]
    lines = "".join(
        f"<line x1='{PAD_L}' x2='{W - PAD_R}' y1='{y(t):.1f}' y2='{y(t):.1f}' stroke='#f3f4f6'/>"
        f"<text x='{PAD_L - 4}' y='{y(t) + 4:.1f}' text-anchor='end'>{t:.2g}</text>"
        for t in ticks
    )
    return f"<text x='{PAD_L}' y='15' style='font-weight:600'>{escape(title)}</text>{lines}"


def _x_labels(labels: list[str], x: Any) -> str:
    step = max(1, -(-len(labels) // 5))
    daily = all(len(label) == 16 and label.endswith("00:00") for label in labels)
    return "".join(
        f"<text x='{x(i):.1f}' y='{H - PAD_B + 14}' text-anchor='middle'>"
        f"{escape(label[:10] if daily else label[5:16] if len(label) == 16 else label[:12])}</text>"
        for i, label in enumerate(labels)
        if i % step == 0
    )


def _svg(kind: str, title: str, parts: list[str]) -> str:
    return (
        f"<svg class='chart {kind}' role='img' aria-label='{escape(title)}' width='{W}' height='{H}' "
        f"viewBox='0 0 {W} {H}' xmlns='http://www.w3.org/2000/svg'>{''.join(parts)}</svg>"
    )
