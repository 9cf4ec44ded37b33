// Shared helpers of the console pages: translations, DOM building, API calls with the
// CSRF header, live updates (server-sent events).
export const T = JSON.parse(document.getElementById("i18n").textContent);
export const ME = JSON.parse(document.getElementById("me").textContent);
export const t = (key, fallback) => T[key] ?? fallback ?? key;
const CSRF = document.querySelector('meta[name="csrf-token"]')?.content ?? "";

export const el = (tag, attrs = {}, ...children) => {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (k.startsWith("on") && typeof v === "function") node.addEventListener(k.slice(2), v);
    else if (v === true) node.setAttribute(k, "");
    else if (v !== null && v !== undefined && v !== false) node.setAttribute(k, v);
  }
  for (const c of children.flat()) {
    if (c === null || c === undefined || c === false) continue;
    node.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return node;
};

const LOCALE = document.documentElement.lang;
export const fmtTime = (iso) => (iso ? new Date(iso).toLocaleString(LOCALE, { hour12: false }) : "");
export const pct = (x) => (x === null || x === undefined ? "–" : `${(x * 100).toFixed(1)}%`);

export function toast(message, error = false) {
  const box = document.getElementById("toast");
  box.textContent = message;
  box.className = error ? "error" : "";
  box.hidden = false;
  clearTimeout(toast.timer);
  toast.timer = setTimeout(() => { box.hidden = true; }, 4000);
}

export async function api(url, { method = "GET", json, form } = {}) {
  const headers = { Accept: "application/json" };
  if (method !== "GET") headers["X-CSRF-Token"] = CSRF;
  let body;
  if (json !== undefined) { headers["Content-Type"] = "application/json"; body = JSON.stringify(json); }
  if (form !== undefined) body = form;
  const resp = await fetch(url, { method, headers, body, credentials: "same-origin" });
  if (resp.status === 401) { location.href = `/login?next=${encodeURIComponent(location.pathname + location.search)}`; throw new Error("signed out"); }
  const data = resp.status === 204 ? null : await resp.json().catch(() => null);
  if (!resp.ok) {
    const detail = data?.detail;
    const message = typeof detail === "string" ? detail : JSON.stringify(detail ?? resp.statusText);
    const error = new Error(`${resp.status}: ${message}`);
    error.status = resp.status;
    throw error;
  }
  return data;
}

// Server-sent events: calls onEvent(message) for each new/updated/ended event.
export function live(onEvent) {
  const source = new EventSource("/api/stream");
  const badge = document.getElementById("live");
  source.addEventListener("open", () => { if (badge) badge.hidden = false; });
  source.addEventListener("error", () => { if (badge) badge.hidden = true; });
  source.addEventListener("events", (ev) => onEvent(JSON.parse(ev.data)));
  addEventListener("pagehide", () => source.close());
  return source;
}

document.getElementById("logout")?.addEventListener("click", async () => {
  await api("/api/auth/logout", { method: "POST" }).catch(() => null);
  location.href = "/login";
});
