#!/usr/bin/python3
"""Turn bench/suite.sh's raw files into the markdown report and the SVG chart.

usage: report.py RAW_DIR OUT.md OUT.svg

RAW_DIR holds (tab-separated, written by bench/lib/samples.sh):
  rows.tsv     row id, section, title, unit
  samples.tsv  row id, tool, value
  notes.tsv    row id or "-", text
  meta.md      the machine and version lines, copied into the report as they are
Only the standard library: the chart is SVG written by hand (no matplotlib).
"""

import html
import os
import statistics
import sys
from collections import OrderedDict, defaultdict

BERTH = "berth"  # tools whose name starts with this are the reference of the ratio


def read_tsv(path, width):
    if not os.path.exists(path):
        return []
    out = []
    with open(path, encoding="utf-8") as f:
        for line in f:
            parts = line.rstrip("\n").split("\t", width - 1)
            if len(parts) == width:
                out.append(parts)
    return out


def load(raw):
    rows = OrderedDict()
    for rid, section, title, unit in read_tsv(os.path.join(raw, "rows.tsv"), 4):
        rows[rid] = {"section": section, "title": title, "unit": unit, "tools": OrderedDict()}
    for rid, tool, value in read_tsv(os.path.join(raw, "samples.tsv"), 3):
        if rid in rows:
            try:
                rows[rid]["tools"].setdefault(tool, []).append(float(value))
            except ValueError:
                pass
    notes = defaultdict(list)
    for rid, text in read_tsv(os.path.join(raw, "notes.tsv"), 2):
        notes[rid].append(text)
    meta = ""
    if os.path.exists(os.path.join(raw, "meta.md")):
        with open(os.path.join(raw, "meta.md"), encoding="utf-8") as f:
            meta = f.read()
    return rows, notes, meta


def fmt(v):
    if v >= 1000:
        return f"{v:,.0f}"
    if v >= 100:
        return f"{v:.0f}"
    if v >= 10:
        return f"{v:.1f}"
    return f"{v:.2f}"


def berth_median(tools):
    for name, vals in tools.items():
        if name.startswith(BERTH) and vals:
            return statistics.median(vals)
    return None


def markdown(rows, notes, meta):
    out = [meta.rstrip(), ""]
    section = None
    for rid, r in rows.items():
        if r["section"] != section:
            section = r["section"]
            out += [f"## {section}", ""]
        out += [f"### {r['title']} ({r['unit']})", ""]
        if r["tools"]:
            b = berth_median(r["tools"])
            out += ["| tool | median | min | max | n | berth / this |", "|---|---:|---:|---:|---:|---:|"]
            for name, vals in r["tools"].items():
                med = statistics.median(vals)
                rat = f"{b / med:.2f}" if b is not None and med > 0 else ""
                bold = f"**{fmt(med)}**"
                cell = name.replace("|", "\\|")
                out.append(f"| {cell} | {bold} | {fmt(min(vals))} | {fmt(max(vals))} | {len(vals)} | {rat} |")
            out.append("")
        for n in notes.get(rid, []):
            out.append(f"- {n}")
        if notes.get(rid):
            out.append("")
    if notes.get("-"):
        out += ["## Notes", ""] + [f"- {n}" for n in notes["-"]] + [""]
    return "\n".join(out) + "\n"


# --- the chart -----------------------------------------------------------------------------
W, LABEL, RIGHT, TOOL_H, HEAD_H, GAP = 980, 230, 150, 18, 22, 14
COLORS = {"berth": "#d9480f", "floor": "#868e96"}
PEER = "#1c7ed6"


def color(tool):
    if tool.startswith(BERTH):
        return COLORS["berth"]
    if tool.startswith("floor") or "wrapper" in tool:
        return COLORS["floor"]
    return PEER


def quartiles(vals):
    v = sorted(vals)
    if len(v) < 4:
        return v[0], v[-1]
    q = statistics.quantiles(v, n=4, method="inclusive")
    return q[0], q[2]


def nice_max(x):
    if x <= 0:
        return 1.0
    e = 10 ** len(str(int(x))) / 10 if x >= 1 else 1.0
    for m in (1, 1.5, 2, 2.5, 3, 4, 5, 6, 8, 10):
        if m * e >= x:
            return m * e
    return x


def svg(rows, title):
    plot_w = W - LABEL - RIGHT
    parts, y = [], 40
    parts.append(f'<text x="10" y="24" font-size="16" font-weight="bold">{html.escape(title)}</text>')
    parts.append(f'<text x="{W - 10}" y="24" font-size="11" text-anchor="end" fill="#555">'
                 'dots: every run; box: quartiles; bar: median; whiskers: min-max; '
                 'orange: berth, blue: peers, grey: floor</text>')
    for rid, r in rows.items():
        tools = [(t, v) for t, v in r["tools"].items() if v]
        if not tools:
            continue
        top = max(max(v) for _, v in tools)
        xmax = nice_max(top)
        sx = lambda v: LABEL + plot_w * v / xmax  # noqa: E731
        parts.append(f'<text x="10" y="{y + 14}" font-size="12" font-weight="bold">'
                     f'{html.escape(r["title"])} ({html.escape(r["unit"])})</text>')
        y += HEAD_H
        h = TOOL_H * len(tools)
        parts.append(f'<rect x="{LABEL}" y="{y}" width="{plot_w}" height="{h}" fill="#f8f9fa" stroke="#dee2e6"/>')
        for k in range(0, 5):
            gx = LABEL + plot_w * k / 4
            parts.append(f'<line x1="{gx:.1f}" y1="{y}" x2="{gx:.1f}" y2="{y + h}" stroke="#e9ecef"/>')
            parts.append(f'<text x="{gx:.1f}" y="{y + h + 11}" font-size="9" text-anchor="middle" '
                         f'fill="#868e96">{fmt(xmax * k / 4)}</text>')
        b = berth_median(r["tools"])
        for i, (t, vals) in enumerate(tools):
            cy = y + TOOL_H * i + TOOL_H / 2
            c = color(t)
            med = statistics.median(vals)
            q1, q3 = quartiles(vals)
            parts.append(f'<text x="{LABEL - 6}" y="{cy + 4}" font-size="11" text-anchor="end">{html.escape(t)}</text>')
            parts.append(f'<line x1="{sx(min(vals)):.1f}" y1="{cy}" x2="{sx(max(vals)):.1f}" y2="{cy}" stroke="{c}"/>')
            parts.append(f'<rect x="{sx(q1):.1f}" y="{cy - 5}" width="{max(sx(q3) - sx(q1), 1):.1f}" '
                         f'height="10" fill="{c}" fill-opacity="0.25" stroke="{c}"/>')
            for j, v in enumerate(vals):  # deterministic jitter so overlapping runs stay visible
                jy = cy + ((j * 7) % 9 - 4) * 0.9
                parts.append(f'<circle cx="{sx(v):.1f}" cy="{jy:.1f}" r="1.6" fill="{c}" fill-opacity="0.55"/>')
            parts.append(f'<line x1="{sx(med):.1f}" y1="{cy - 7}" x2="{sx(med):.1f}" y2="{cy + 7}" '
                         f'stroke="{c}" stroke-width="2.5"/>')
            label = fmt(med)
            if b is not None and not t.startswith(BERTH) and med > 0:
                label += f"  (berth/this {b / med:.2f})"
            parts.append(f'<text x="{LABEL + plot_w + 6}" y="{cy + 4}" font-size="10" fill="#343a40">{label}</text>')
        y += h + 12 + GAP
    head = (f'<svg xmlns="http://www.w3.org/2000/svg" width="{W}" height="{y + 10}" '
            f'viewBox="0 0 {W} {y + 10}" font-family="sans-serif">'
            f'<rect width="100%" height="100%" fill="white"/>')
    return head + "\n".join(parts) + "</svg>\n"


def main():
    if len(sys.argv) != 4:
        sys.exit(__doc__)
    raw, md_path, svg_path = sys.argv[1:]
    rows, notes, meta = load(raw)
    with open(md_path, "w", encoding="utf-8") as f:
        f.write(markdown(rows, notes, meta))
    title = "berth bench suite: " + os.path.splitext(os.path.basename(svg_path))[0]
    with open(svg_path, "w", encoding="utf-8") as f:
        f.write(svg(rows, title))


if __name__ == "__main__":
    main()
