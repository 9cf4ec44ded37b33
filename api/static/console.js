// The first operator console: cameras, events with evidence, work orders. Polls the REST API.
const KIND = { smoke: "秸秆焚烧", dust: "施工扬尘", stall: "占道经营", crowd: "人群聚集" };
const REVIEW = { pending: "待审核", auto: "自动派单", confirmed: "已确认", rejected: "已驳回", attached: "并入工单" };
const STATUS = {
  accepted: "已受理", dispatched: "已派遣", feedback_received: "已反馈", verifying: "复核中",
  closed: "已结案", redo: "重新处置", not_disposed: "未处置",
};
const POLL_MS = 2000;

const el = (tag, attrs = {}, ...children) => {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (k.startsWith("on")) node.addEventListener(k.slice(2), v);
    else if (v !== null && v !== undefined) node.setAttribute(k, v);
  }
  for (const c of children) node.append(c instanceof Node ? c : document.createTextNode(c ?? ""));
  return node;
};
const fmtTime = (iso) => (iso ? new Date(iso).toLocaleString("zh-CN", { hour12: false }) : "");

async function getJSON(url) {
  const resp = await fetch(url, { headers: { Accept: "application/json" } });
  if (!resp.ok) throw new Error(`${url}: HTTP ${resp.status}`);
  return resp.json();
}

async function post(url, body) {
  const resp = await fetch(url, {
    method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(body),
  });
  if (!resp.ok) alert(`${resp.status}: ${(await resp.json()).detail}`);
  delete shown.events;
  await refresh();
}

function renderCameras(cameras) {
  const wall = document.getElementById("cameras");
  const stamp = Date.now();
  wall.replaceChildren(...cameras.map((c) => {
    const state = c.status ? c.status.state : "unknown";
    return el("div", { class: "cam", "data-camera": c.id },
      el("img", { src: `${c.snapshot_url}?t=${stamp}`, alt: c.name || c.id, onerror: (ev) => { ev.target.style.visibility = "hidden"; } }),
      el("div", { class: "meta" },
        el("span", {}, c.name || c.id, el("br"), el("small", { class: "muted" }, `${c.township} ${c.grid}`)),
        el("span", { class: `state-${state}` }, state)));
  }));
}

function reviewCell(e) {
  const cell = el("td", {}, el("span", { class: "badge" }, REVIEW[e.review] ?? e.review));
  if (e.review === "pending") {
    cell.append(el("br"),
      el("button", { class: "confirm", onclick: () => post(`/api/events/${e.id}/confirm`, { note: "" }) }, "确认派单"),
      el("button", { class: "reject", onclick: () => {
        const reason = prompt("驳回原因 (误报)") ;
        if (reason) post(`/api/events/${e.id}/reject`, { reason });
      } }, "驳回"));
  }
  return cell;
}

function renderEvents(events) {
  const body = document.querySelector("#events tbody");
  document.getElementById("events-empty").hidden = events.length > 0;
  body.replaceChildren(...events.map((e) => el("tr", { "data-event": e.id, "data-kind": e.kind },
    el("td", {}, fmtTime(e.started_at), el("br"), el("small", { class: "muted" }, e.state === "active" ? "进行中" : "已结束")),
    el("td", {}, KIND[e.label ?? e.kind] ?? e.kind, e.count ? ` (${e.count}人)` : ""),
    el("td", {}, e.camera_name || e.camera_id, el("br"), el("small", { class: "muted" }, e.zone_id)),
    el("td", {}, e.confidence.toFixed(2)),
    el("td", {}, e.snapshot_url ? el("img", { class: "thumb", src: e.snapshot_url, alt: "snapshot", onclick: () => zoom(e.snapshot_url) }) : ""),
    el("td", {}, e.clip_url ? el("video", { src: e.clip_url, controls: "", preload: "metadata", muted: "" }) : el("small", { class: "muted" }, e.clip_state)),
    reviewCell(e),
    el("td", {}, e.order_id ? `#${e.order_id} ` : "", e.order_status ? el("span", { class: `badge ${e.order_status}` }, STATUS[e.order_status] ?? e.order_status) : ""),
  )));
}

function renderOrders(orders) {
  const body = document.querySelector("#orders tbody");
  document.getElementById("orders-empty").hidden = orders.length > 0;
  body.replaceChildren(...orders.map((o) => el("tr", { "data-order": o.id, "data-status": o.status },
    el("td", {}, `#${o.id}`),
    el("td", {}, KIND[o.kind] ?? o.kind),
    el("td", {}, o.township ?? ""),
    el("td", {}, o.level === 2 ? "二级(县)" : "一级(镇)"),
    el("td", {}, (o.units ?? []).join("、")),
    el("td", {}, el("span", { class: `badge ${o.status}` }, STATUS[o.status] ?? o.status),
      o.redo_count ? el("small", { class: "muted" }, ` 重办${o.redo_count}`) : "",
      o.overdue ? el("span", { class: "badge overdue" }, "超时") : ""),
    el("td", {}, fmtTime(o.deadline)),
    el("td", {}, o.description ?? ""),
  )));
}

function zoom(src) {
  let box = document.getElementById("zoom");
  if (!box) {
    box = el("div", { id: "zoom", onclick: () => { box.style.display = "none"; } }, el("img"));
    document.body.append(box);
  }
  box.querySelector("img").src = src;
  box.style.display = "flex";
}

// Re-render a table only when its data changed, so a playing clip is not interrupted.
const shown = {};
function changed(name, data) {
  const text = JSON.stringify(data);
  if (shown[name] === text) return false;
  shown[name] = text;
  return true;
}

async function refresh() {
  document.getElementById("clock").textContent = new Date().toLocaleString("zh-CN", { hour12: false });
  const [cameras, events, orders] = await Promise.allSettled([
    getJSON("/api/cameras"), getJSON("/api/events?limit=100"), getJSON("/api/orders"),
  ]);
  if (cameras.status === "fulfilled") renderCameras(cameras.value);
  if (events.status === "fulfilled" && changed("events", events.value.data)) renderEvents(events.value.data);
  if (orders.status === "fulfilled" && changed("orders", orders.value.data)) renderOrders(orders.value.data);
}

refresh();
setInterval(refresh, POLL_MS);
