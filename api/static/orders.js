// The orders board: status, deadline, overdue, units and level; the timeline of every
// transition; before/after evidence side by side; department feedback with photos;
// the commander's review and supervision.
import { ME, api, el, fmtTime, live, t, toast } from "./common.js";

const filters = document.getElementById("filters");
const list = document.getElementById("orders");
const panel = document.getElementById("order");
let orders = [];
let openId = Number(location.hash.slice(1)) || null;
let unitNames = {};
const units = (ids) => (ids ?? []).map((u) => unitNames[u] ?? u).join("、");

const statusBadge = (s) => el("span", { class: `badge ${s}` }, t(`status.${s}`, s));

async function load() {
  const params = new URLSearchParams({ limit: "300" });
  for (const [k, v] of new FormData(filters)) if (v) params.set(k, v);
  const body = await api(`/api/orders?${params}`);
  orders = body.data;
  document.getElementById("empty").hidden = orders.length > 0;
  list.replaceChildren(...orders.map((o) => el("article", {
    class: `order-card ${o.id === openId ? "current" : ""} ${o.overdue ? "is-overdue" : ""}`,
    "data-order": o.id, "data-status": o.status, onclick: () => open(o.id),
  },
  el("header", {}, el("strong", {}, o.code ?? `#${o.id}`), " ", statusBadge(o.status),
    o.overdue ? el("span", { class: "badge overdue" }, t("overdue")) : "",
    o.redo_count ? el("small", { class: "muted" }, ` ${t("redo_count")} ${o.redo_count}`) : ""),
  el("div", {}, t(`kind.${o.kind}`, o.kind), " · ", o.township, " · ", t(`level.${o.level}`, o.level)),
  el("small", { class: "muted" }, units(o.units), " · ", t("col.deadline"), " ", fmtTime(o.deadline)))));
  if (openId) await open(openId, false);
}

function evidenceBlock(items) {
  return items.map((ev) => ev.kind === "clip" || /\.mp4$/.test(ev.url)
    ? el("video", { src: ev.url, controls: true, preload: "metadata", muted: true, playsinline: true })
    : el("a", { href: ev.url, target: "_blank" }, el("img", { src: ev.url, alt: ev.phase ?? "" })));
}

async function open(id, scroll = true) {
  openId = id;
  history.replaceState(null, "", `#${id}`);
  for (const card of list.children) card.classList.toggle("current", Number(card.dataset.order) === id);
  let o;
  try { o = await api(`/api/orders/${id}`); } catch (err) { toast(err.message, true); return; }
  const key = JSON.stringify(o);
  if (panel.dataset.key === key) return;
  panel.dataset.key = key;
  const before = [
    ...(o.event?.snapshot_url ? [{ url: o.event.snapshot_url, kind: "snapshot" }] : []),
    ...(o.event?.clip_url ? [{ url: o.event.clip_url, kind: "clip" }] : []),
    ...o.evidence.filter((e) => e.phase === "before" && !o.event),
  ];
  const after = o.evidence.filter((e) => e.phase === "after");
  const last = o.verifications.at(-1);
  panel.hidden = false;
  panel.replaceChildren(
    el("h2", {}, o.code ?? `#${o.id}`, " ", statusBadge(o.status), o.overdue ? el("span", { class: "badge overdue" }, t("overdue")) : ""),
    el("p", {}, o.description),
    el("dl", {},
      el("dt", {}, t("f.kind")), el("dd", {}, t(`kind.${o.kind}`, o.kind)),
      el("dt", {}, t("f.township")), el("dd", {}, o.township, o.grid ? ` · ${o.grid}` : ""),
      el("dt", {}, t("col.level")), el("dd", {}, t(`level.${o.level}`, o.level), " · ", o.centre),
      el("dt", {}, t("col.units")), el("dd", {}, units(o.units), ` (${t("lead")}: ${units([o.lead_unit])})`),
      el("dt", {}, t("col.deadline")), el("dd", {}, fmtTime(o.deadline))),
    el("div", { class: "before-after" },
      el("figure", { class: "before" }, el("figcaption", {}, t("order.before")), ...evidenceBlock(before)),
      el("figure", { class: "after" }, el("figcaption", {}, t("order.after"),
        last ? el("span", { class: `verdict ${last.present ? "present" : "clear"}` }, " · ", last.present ? t("order.present") : t("order.clear"), ` (${last.hits}/${last.frames})`) : ""),
        ...evidenceBlock(after))),
    o.feedback.length ? el("section", { class: "feedback" }, el("h3", {}, t("order.feedback")),
      ...o.feedback.map((f) => el("div", { class: "fb" }, el("strong", {}, units([f.unit])), " ", fmtTime(f.at), el("p", {}, f.note),
        el("div", { class: "photos" }, ...f.photos.map((u) => el("a", { href: u, target: "_blank" }, el("img", { src: u, alt: "photo" }))))))) : "",
    el("section", { class: "timeline" }, el("h3", {}, t("order.timeline")),
      el("ol", {}, ...o.history.map((h) => el("li", {}, el("time", {}, fmtTime(h.at)), " ",
        el("strong", {}, h.actor), " ", h.action, ": ", h.from_status ? `${t(`status.${h.from_status}`, h.from_status)} → ` : "",
        t(`status.${h.to_status}`, h.to_status), h.note ? el("small", { class: "muted" }, ` ${h.note}`) : "")))),
    actions(o));
  if (scroll && matchMedia("(max-width: 800px)").matches) panel.scrollIntoView();
}

function actions(o) {
  const box = el("section", { class: "order-actions" });
  if ((ME.role === "department" || ME.role === "admin") && ["dispatched", "redo"].includes(o.status)) {
    const form = el("form", { class: "feedback-form", onsubmit: (ev) => { ev.preventDefault(); feedback(o.id, form); } },
      el("h3", {}, t("act.feedback")),
      ME.role === "admin" ? el("label", {}, t("users.unit"), " ", el("input", { name: "unit", value: o.lead_unit })) : "",
      el("label", {}, t("act.note"), el("textarea", { name: "note", required: true, rows: 3 })),
      el("label", {}, t("act.photos"), el("input", { type: "file", name: "photos", accept: "image/*", multiple: true, capture: "environment" })),
      el("button", { class: "primary", type: "submit" }, t("act.submit")));
    box.append(form);
    if (ME.role === "department") {
      box.append(el("button", { class: "reinforce", onclick: () => act(o.id, "reinforce") }, t("act.reinforce")));
    }
  }
  if (ME.role === "commander" || ME.role === "admin") {
    if (o.status === "feedback_received") {
      box.append(el("button", { class: "review-ok", onclick: () => review(o.id, true) }, t("act.review_ok")),
        el("button", { class: "review-bad", onclick: () => review(o.id, false) }, t("act.review_bad")));
    }
    if (!["closed", "not_disposed"].includes(o.status)) {
      for (const action of ["escalate", "remind", "supervise"]) {
        box.append(el("button", { class: action, onclick: () => act(o.id, action) }, t(`act.${action}`)));
      }
    }
  }
  return box;
}

async function feedback(id, form) {
  const data = new FormData(form);
  try {
    await api(`/api/orders/${id}/feedback`, { method: "POST", form: data });
    toast(t("status.feedback_received"));
    panel.dataset.key = "";
    await load();
  } catch (err) { toast(err.message, true); }
}

async function review(id, effective) {
  const note = prompt(effective ? t("act.review_ok") : t("act.review_bad"), effective ? "处置到位" : "问题仍在");
  if (!note) return;
  try { await api(`/api/orders/${id}/review`, { method: "POST", json: { effective, note } }); await load(); }
  catch (err) { toast(err.message, true); }
}

async function act(id, action) {
  const note = prompt(`${t(`act.${action}`)}: ${t("act.note")}`, "");
  if (!note || !note.trim()) return;
  try { await api(`/api/orders/${id}/${action}`, { method: "POST", json: { note: note.trim() } }); panel.dataset.key = ""; await load(); toast(t(`act.${action}`)); }
  catch (err) { toast(err.status === 501 ? `${t(`act.${action}`)}: ${err.message}` : err.message, true); }
}

filters.addEventListener("change", () => load());
addEventListener("hashchange", () => { const id = Number(location.hash.slice(1)); if (id && id !== openId) open(id); });
live(() => { clearTimeout(load.timer); load.timer = setTimeout(() => load().catch(() => null), 300); });
setInterval(() => load().catch(() => null), 5000);
api("/api/units").then((r) => { unitNames = Object.fromEntries(r.data.map((u) => [u.id, u.name])); })
  .catch(() => null).finally(() => load().catch((err) => toast(err.message, true)));
