// Statistics: key rates, bar charts by kind / township / unit, the daily trend; drawn as
// inline SVG (no chart library).
import { api, el, pct, t, toast } from "./common.js";

const SVG = "http://www.w3.org/2000/svg";
const svg = (tag, attrs = {}, ...children) => {
  const node = document.createElementNS(SVG, tag);
  for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, v);
  for (const c of children) node.append(c instanceof Node ? c : document.createTextNode(String(c)));
  return node;
};

function bars(target, data, label = (k) => k) {
  const entries = Object.entries(data).sort((a, b) => b[1] - a[1]);
  const box = document.getElementById(target);
  if (!entries.length) { box.replaceChildren(el("p", { class: "muted" }, "–")); return; }
  const max = Math.max(...entries.map(([, v]) => v), 1);
  const row = 28;
  const chart = svg("svg", { viewBox: `0 0 420 ${entries.length * row + 8}`, class: "bars", role: "img" });
  entries.forEach(([key, value], i) => {
    const y = i * row + 4;
    const w = Math.max(2, (value / max) * 250);
    chart.append(
      svg("text", { x: 0, y: y + 17, class: "label" }, label(key)),
      svg("rect", { x: 130, y, width: w, height: row - 8, rx: 3, class: "bar", "data-key": key }),
      svg("text", { x: 136 + w, y: y + 17, class: "value" }, value));
  });
  box.replaceChildren(chart);
}

function trend(days) {
  const box = document.getElementById("trend");
  const W = 860, H = 220, pad = 30;
  const max = Math.max(1, ...days.map((d) => d.total));
  const x = (i) => pad + (i * (W - 2 * pad)) / Math.max(1, days.length - 1);
  const y = (v) => H - pad - (v / max) * (H - 2 * pad);
  const line = (key) => days.map((d, i) => `${i ? "L" : "M"}${x(i).toFixed(1)},${y(d[key]).toFixed(1)}`).join(" ");
  const chart = svg("svg", { viewBox: `0 0 ${W} ${H}`, class: "trend", role: "img" },
    svg("line", { x1: pad, y1: H - pad, x2: W - pad, y2: H - pad, class: "axis" }),
    svg("path", { d: line("total"), class: "total" }),
    svg("path", { d: line("closed"), class: "closed" }),
    svg("text", { x: pad, y: 14, class: "legend total" }, `— ${t("stats.total")}`),
    svg("text", { x: pad + 120, y: 14, class: "legend closed" }, `— ${t("status.closed")}`));
  days.forEach((d, i) => {
    chart.append(svg("circle", { cx: x(i), cy: y(d.total), r: 3, class: "total" }));
    if (i % 2 === 0 || days.length < 8) chart.append(svg("text", { x: x(i), y: H - 10, class: "tick" }, d.day.slice(5)));
  });
  box.replaceChildren(chart);
}

async function load() {
  const [stats, days, units] = await Promise.all([
    api("/api/stats"), api("/api/stats/trend?days=14"), api("/api/units").catch(() => ({ data: [] })),
  ]);
  const unitName = Object.fromEntries(units.data.map((u) => [u.id, u.name]));
  document.getElementById("kpis").replaceChildren(...[
    ["stats.total", stats.total], ["stats.on_time", pct(stats.on_time_rate)],
    ["stats.closure", pct(stats.closure_rate)], ["stats.redo", pct(stats.redo_rate)],
    ["stats.not_disposed", pct(stats.not_disposed_rate)], ["stats.overdue", stats.overdue],
    // Figures a newer dispatch core adds; absent ones are left out.
    ...[["stats.escalated", stats.escalated], ["stats.supervised", stats.supervised],
      ["stats.verified", stats.verification_pass_rate === undefined ? undefined : pct(stats.verification_pass_rate)]]
      .filter(([, v]) => v !== undefined),
  ].map(([key, value]) => el("div", { class: "kpi card", "data-kpi": key }, el("small", {}, t(key)), el("strong", {}, value))));
  bars("by-kind", stats.by_kind, (k) => t(`kind.${k}`, k));
  bars("by-township", stats.by_township);
  bars("by-unit", stats.by_unit, (k) => unitName[k] ?? k);
  trend(days.days);
}

setInterval(() => load().catch(() => null), 10000);
load().catch((err) => toast(err.message, true));
