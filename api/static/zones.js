// The zone editor: polygons drawn on the camera's snapshot (0..1 coordinates), kinds,
// sensitivity, duration, repeat interval, people threshold, schedule, shield areas.
// Saving writes the configuration file and the running detector uses the zones at once.
import { api, el, t, toast } from "./common.js";

const root = document.querySelector(".zone-editor");
const cameraId = root.dataset.camera;
const preset = root.dataset.preset || null;
const canvas = document.getElementById("canvas");
const ctx = canvas.getContext("2d");
const form = document.getElementById("zone-form");
const listBox = document.getElementById("zone-list");
const picture = new Image();
let zones = [];
let selected = -1; // index into zones
let drawing = null; // {points: [], shieldOf: index|null}
let dragging = null;
const q = preset ? `?preset=${encodeURIComponent(preset)}` : "";

const COLORS = ["#e53e3e", "#3182ce", "#38a169", "#d69e2e", "#805ad5", "#dd6b20"];

function draw() {
  ctx.clearRect(0, 0, canvas.width, canvas.height);
  if (picture.complete && picture.naturalWidth) ctx.drawImage(picture, 0, 0, canvas.width, canvas.height);
  const path = (pts, close) => {
    ctx.beginPath();
    pts.forEach(([x, y], i) => (i ? ctx.lineTo : ctx.moveTo).call(ctx, x * canvas.width, y * canvas.height));
    if (close) ctx.closePath();
  };
  zones.forEach((z, i) => {
    const color = COLORS[i % COLORS.length];
    ctx.lineWidth = i === selected ? 3 : 2;
    ctx.strokeStyle = color;
    ctx.fillStyle = `${color}33`;
    path(z.polygon, true); ctx.fill(); ctx.stroke();
    ctx.setLineDash([6, 4]);
    for (const s of z.shield ?? []) { ctx.fillStyle = "#0006"; path(s, true); ctx.fill(); ctx.stroke(); }
    ctx.setLineDash([]);
    ctx.fillStyle = color;
    ctx.font = "16px sans-serif";
    const [x, y] = z.polygon[0];
    ctx.fillText(z.name || z.id, x * canvas.width + 4, y * canvas.height + 18);
    if (i === selected) for (const [px, py] of z.polygon) ctx.fillRect(px * canvas.width - 4, py * canvas.height - 4, 8, 8);
  });
  if (drawing) {
    ctx.strokeStyle = "#ffeb3b"; ctx.lineWidth = 2;
    path(drawing.points, false); ctx.stroke();
    for (const [px, py] of drawing.points) ctx.fillRect(px * canvas.width - 3, py * canvas.height - 3, 6, 6);
  }
}

function pos(ev) {
  const r = canvas.getBoundingClientRect();
  const clamp = (v) => Math.min(1, Math.max(0, Math.round(v * 1000) / 1000));
  return [clamp((ev.clientX - r.left) / r.width), clamp((ev.clientY - r.top) / r.height)];
}

canvas.addEventListener("mousedown", (ev) => {
  const p = pos(ev);
  if (drawing) {
    drawing.points.push(p);
    if (drawing.points.length >= 10) finish();
    draw();
    return;
  }
  const z = zones[selected];
  if (!z) return;
  const near = z.polygon.findIndex(([x, y]) => Math.hypot((x - p[0]) * canvas.width, (y - p[1]) * canvas.height) < 10);
  if (near >= 0) dragging = near;
});
canvas.addEventListener("mousemove", (ev) => {
  if (dragging === null) return;
  zones[selected].polygon[dragging] = pos(ev);
  draw();
});
addEventListener("mouseup", () => { dragging = null; });
canvas.addEventListener("dblclick", () => finish());

function finish() {
  if (!drawing) return;
  // A double-click adds the same point twice: drop repeats.
  const pts = drawing.points.filter((p, i, a) => i === 0 || p[0] !== a[i - 1][0] || p[1] !== a[i - 1][1]);
  if (pts.length < 3) { toast("≥ 3", true); return; }
  if (drawing.shieldOf !== null) zones[drawing.shieldOf].shield = [...(zones[drawing.shieldOf].shield ?? []), pts];
  else {
    let n = zones.length + 1;
    while (zones.some((z) => z.id === `zone-${n}`)) n += 1;
    zones.push({ id: `zone-${n}`, name: "", polygon: pts, kinds: [], sensitivity: 50, schedule: [], shield: [] });
    selected = zones.length - 1;
  }
  drawing = null;
  renderList();
  draw();
}

document.getElementById("new-zone").addEventListener("click", () => { drawing = { points: [], shieldOf: null }; draw(); });
document.getElementById("new-shield").addEventListener("click", () => {
  if (selected < 0) return toast(t("zones.new"), true);
  drawing = { points: [], shieldOf: selected };
});
document.getElementById("finish").addEventListener("click", () => finish());
document.getElementById("delete-zone").addEventListener("click", () => {
  zones.splice(selected, 1); selected = -1; renderList(); draw();
});

function renderList() {
  listBox.replaceChildren(...zones.map((z, i) => el("li", {
    class: i === selected ? "current" : "", "data-zone": z.id,
    onclick: () => { selected = i; renderList(); draw(); },
  }, el("strong", {}, z.id), " ", z.name, " ", el("small", { class: "muted" }, z.kinds.map((k) => t(`kind.${k}`)).join("、")))));
  form.hidden = selected < 0;
  if (selected >= 0) fillForm(zones[selected]);
}

const scheduleText = (s) => (s ?? []).map((w) => `${w.start}-${w.end} ${w.days.join(",")}`).join("; ");
function parseSchedule(text) {
  return text.split(";").map((p) => p.trim()).filter(Boolean).map((part) => {
    const [range, days = "1-7"] = part.split(/\s+/);
    const [start, end] = range.split("-");
    const list = days.split(",").flatMap((d) => {
      const [a, b] = d.split("-").map(Number);
      return b ? Array.from({ length: b - a + 1 }, (_, k) => a + k) : [a];
    });
    return { start, end, days: list };
  });
}

function fillForm(z) {
  form.elements.id.value = z.id;
  form.elements.name.value = z.name ?? "";
  for (const box of form.querySelectorAll('input[name="kinds"]')) box.checked = z.kinds.includes(box.value);
  form.elements.sensitivity.value = z.sensitivity ?? 50;
  form.elements.min_duration_s.value = z.min_duration_s ?? "";
  form.elements.repeat_interval_s.value = z.repeat_interval_s ?? "";
  form.elements.count_threshold.value = z.count_threshold ?? "";
  form.elements.schedule.value = scheduleText(z.schedule);
}

form.addEventListener("input", () => {
  const z = zones[selected];
  if (!z) return;
  const num = (name) => (form.elements[name].value === "" ? null : Number(form.elements[name].value));
  z.id = form.elements.id.value.trim();
  z.name = form.elements.name.value;
  z.kinds = [...form.querySelectorAll('input[name="kinds"]:checked')].map((b) => b.value);
  z.sensitivity = num("sensitivity") ?? 50;
  z.min_duration_s = num("min_duration_s");
  z.repeat_interval_s = num("repeat_interval_s");
  z.count_threshold = num("count_threshold");
  try { z.schedule = parseSchedule(form.elements.schedule.value); } catch { /* shown on save */ }
  renderListLabels();
  draw();
});

function renderListLabels() {
  listBox.querySelectorAll("li").forEach((li, i) => { li.firstChild.textContent = zones[i].id; li.dataset.zone = zones[i].id; });
}

function clean(z) {
  const out = { id: z.id, name: z.name ?? "", polygon: z.polygon, kinds: z.kinds, sensitivity: z.sensitivity ?? 50,
    schedule: z.schedule ?? [], shield: z.shield ?? [] };
  for (const k of ["min_duration_s", "repeat_interval_s", "count_threshold"]) if (z[k] !== null && z[k] !== undefined) out[k] = z[k];
  return out;
}

document.getElementById("save").addEventListener("click", async () => {
  try {
    const result = await api(`/api/cameras/${encodeURIComponent(cameraId)}/zones${q}`, { method: "PUT", json: { zones: zones.map(clean) } });
    showActive(result);
    toast(t("zones.saved") + (result.saved_to ? ` → ${result.saved_to}` : ""));
  } catch (err) { toast(err.message, true); }
});

function showActive(result) {
  const box = document.getElementById("active");
  box.textContent = `${t("zones.active")}: ${result.active.join(", ") || "–"}`;
  box.dataset.active = result.active.join(",");
}

document.getElementById("preset")?.addEventListener("change", (ev) => {
  location.search = `?preset=${encodeURIComponent(ev.target.value)}`;
});

async function start() {
  const result = await api(`/api/cameras/${encodeURIComponent(cameraId)}/zones${q}`);
  zones = result.zones.map((z) => ({ ...z, polygon: z.polygon.map((p) => [...p]) }));
  showActive(result);
  renderList();
  picture.onload = draw;
  picture.src = `/api/cameras/${encodeURIComponent(cameraId)}/snapshot.jpg?t=${Date.now()}`;
  draw();
}
start().catch((err) => toast(err.message, true));
