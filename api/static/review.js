// The review queue: flagged events newest first; confirm, reject, relabel, bulk actions,
// keyboard shortcuts; live updates by server-sent events.
import { api, el, fmtTime, live, t, toast } from "./common.js";

const KINDS = ["smoke", "dust", "stall", "crowd"];
const filters = document.getElementById("filters");
const queue = document.getElementById("queue");
const detail = document.getElementById("detail");
let events = [];
let current = null;
const selected = new Set();

function query() {
  const params = new URLSearchParams({ limit: "200" });
  for (const [k, v] of new FormData(filters)) {
    if (!v) continue;
    params.set(k, k === "since" || k === "until" ? new Date(v).toISOString() : v);
  }
  return params;
}

// Loads can overlap (a filter change while a live refresh is in flight): only the newest
// request's answer is shown, so a slow older answer never replaces the filtered list.
let loadSeq = 0;

export async function load() {
  const seq = ++loadSeq;
  const body = await api(`/api/events?${query()}`);
  if (seq !== loadSeq) return;
  events = body.data;
  document.getElementById("count").textContent = `${body.count}`;
  document.getElementById("empty").hidden = events.length > 0;
  renderQueue();
  if (!events.find((e) => e.id === current)) current = events[0]?.id ?? null;
  renderDetail();
}

const kindName = (e) => t(`kind.${e.label ?? e.kind}`, e.label ?? e.kind);

function renderQueue() {
  queue.replaceChildren(...events.map((e) => el("li", {
    class: `item ${e.id === current ? "current" : ""} review-${e.review}`, "data-event": e.id,
    "data-kind": e.kind, onclick: () => { current = e.id; renderQueue(); renderDetail(); },
  },
  el("input", { type: "checkbox", class: "pick", checked: selected.has(e.id), onclick: (ev) => { ev.stopPropagation(); toggle(e.id); } }),
  e.snapshot_url ? el("img", { src: e.snapshot_url, alt: "", loading: "lazy" }) : el("span", { class: "noimg" }),
  el("div", {},
    el("strong", {}, kindName(e)), " ", el("span", { class: `badge ${e.review}` }, t(`review.${e.review}`, e.review)),
    el("br"), el("small", {}, e.camera_name, " · ", fmtTime(e.started_at)),
    el("br"), el("small", { class: "muted" }, `${t("col.confidence")} ${e.confidence.toFixed(2)}`)))));
}

function toggle(id) {
  if (selected.has(id)) selected.delete(id); else selected.add(id);
  renderQueue();
}

function renderDetail() {
  const e = events.find((x) => x.id === current);
  if (!e) { detail.replaceChildren(); detail.dataset.key = ""; return; }
  const key = JSON.stringify(e);
  if (detail.dataset.key === key) return; // unchanged: keep a playing clip playing
  detail.dataset.key = key;
  const pending = e.review === "pending";
  // A live update (the order moved on, the review changed) must not restart a clip the
  // operator is watching: the same clip keeps its <video> element and its position.
  const playing = detail.querySelector("video.clip");
  const video = !e.clip_url ? null
    : playing && playing.getAttribute("src") === e.clip_url ? playing
      : el("video", { class: "clip", src: e.clip_url, controls: true, preload: "auto", muted: true, playsinline: true });
  detail.replaceChildren(
    el("h2", {}, kindName(e), " ", el("span", { class: `badge ${e.review}` }, t(`review.${e.review}`))),
    el("div", { class: "evidence" },
      e.snapshot_url ? el("img", { class: "snapshot", src: e.snapshot_url, alt: "snapshot" }) : "",
      video ?? el("p", { class: "muted" }, `clip: ${e.clip_state}`)),
    el("dl", {},
      el("dt", {}, t("f.camera")), el("dd", {}, `${e.camera_name} (${e.camera_id})`),
      el("dt", {}, t("f.township")), el("dd", {}, e.township),
      el("dt", {}, t("col.zone")), el("dd", {}, e.zone_id, e.preset ? ` @ ${e.preset}` : ""),
      el("dt", {}, t("col.time")), el("dd", {}, fmtTime(e.started_at), " ", t(`state.${e.state}`)),
      el("dt", {}, t("col.confidence")), el("dd", {}, e.confidence.toFixed(3), e.count ? ` · ${e.count}` : ""),
      el("dt", {}, "boxes"), el("dd", {}, e.boxes.map((b) => `[${b.map((v) => Math.round(v)).join(",")}]`).join(" ")),
      e.review_note ? [el("dt", {}, "note"), el("dd", {}, e.review_note)] : "",
      e.order_id ? [el("dt", {}, t("col.order")), el("dd", {}, el("a", { href: `/orders#${e.order_id}` }, `#${e.order_id}`), " ", t(`status.${e.order_status}`, e.order_status ?? ""))] : ""),
    el("div", { class: "actions" },
      el("button", { class: "confirm primary", disabled: !pending, onclick: () => confirm(e.id) }, t("act.confirm"), " (C)"),
      el("button", { class: "reject", disabled: !pending, onclick: () => reject([e.id]) }, t("act.reject"), " (R)"),
      el("label", {}, t("act.relabel"), " (L) ",
        el("select", { class: "relabel", onchange: (ev) => relabel(e.id, ev.target.value) },
          ...KINDS.map((k) => el("option", { value: k, selected: (e.label ?? e.kind) === k }, t(`kind.${k}`)))))));
}

async function act(fn) {
  try { await fn(); } catch (err) { toast(err.message, true); }
  await load();
}

const confirm = (id) => act(async () => {
  const e = await api(`/api/events/${id}/confirm`, { method: "POST", json: { note: "" } });
  toast(`${t("review.confirmed")} ${e.id}`);
});

// The reason is kept with the event for retraining exports; chips fill in common ones.
const dialog = document.getElementById("reject-dialog");
const reasonBox = dialog.querySelector("textarea[name=reason]");
for (const chip of dialog.querySelectorAll(".chip")) {
  chip.addEventListener("click", () => { reasonBox.value = chip.dataset.reason; reasonBox.focus(); });
}

function askReason() {
  reasonBox.value = "";
  dialog.returnValue = "";
  dialog.showModal();
  return new Promise((resolve) => {
    dialog.addEventListener("close", () => {
      const reason = reasonBox.value.trim();
      resolve(dialog.returnValue === "ok" && reason ? reason : null);
    }, { once: true });
  });
}

const reject = async (ids) => {
  const reason = await askReason();
  if (!reason) return;
  return act(async () => {
    if (ids.length === 1) await api(`/api/events/${ids[0]}/reject`, { method: "POST", json: { reason } });
    else await bulk("reject", ids, { reason });
    toast(t("review.rejected"));
  });
};

const relabel = (id, kind) => act(() => api(`/api/events/${id}/relabel`, { method: "POST", json: { kind } }));

async function bulk(action, ids, extra = {}) {
  const result = await api("/api/events/bulk", { method: "POST", json: { action, ids, ...extra } });
  selected.clear();
  const failed = Object.entries(result.failed);
  if (failed.length) toast(failed.map(([id, why]) => `${id}: ${why}`).join("; "), true);
  return result;
}

document.getElementById("bulk-confirm").addEventListener("click", () => act(() => bulk("confirm", [...selected])));
document.getElementById("bulk-reject").addEventListener("click", () => selected.size && reject([...selected]));
filters.addEventListener("change", () => load());

document.addEventListener("keydown", (ev) => {
  if (ev.target.closest("input, select, textarea") || ev.ctrlKey || ev.metaKey || ev.altKey) return;
  const i = events.findIndex((e) => e.id === current);
  const key = ev.key.toLowerCase();
  if (key === "j" || key === "arrowdown") current = events[Math.min(i + 1, events.length - 1)]?.id ?? current;
  else if (key === "k" || key === "arrowup") current = events[Math.max(i - 1, 0)]?.id ?? current;
  else if (key === "c" && current) return confirm(current);
  else if (key === "r" && current) return reject([current]);
  else if (key === "x" && current) return toggle(current);
  else if (key === "l") return detail.querySelector("select.relabel")?.focus();
  else if (key === " ") { const v = detail.querySelector("video"); if (v) { ev.preventDefault(); v.paused ? v.play() : v.pause(); } return; }
  else return;
  ev.preventDefault();
  renderQueue();
  renderDetail();
  queue.querySelector(".current")?.scrollIntoView({ block: "nearest" });
});

let pending = null;
live(() => { clearTimeout(pending); pending = setTimeout(() => load().catch(() => null), 100); });
load().catch((err) => toast(err.message, true));
