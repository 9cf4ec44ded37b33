// Accounts (admins): add, disable/enable, new API token; the sign-in audit.
import { api, el, fmtTime, t, toast } from "./common.js";

const form = document.getElementById("add-user");

async function load() {
  const [users, audit] = await Promise.all([api("/api/users"), api("/api/audit?limit=50")]);
  document.querySelector("#users tbody").replaceChildren(...users.map((u) => el("tr", { "data-user": u.name },
    el("td", {}, u.name), el("td", {}, t(`role.${u.role}`, u.role)), el("td", {}, u.unit ?? ""),
    el("td", {},
      el("button", { onclick: () => setState(u.name, !u.disabled) }, u.disabled ? t("users.enable") : t("users.disable")),
      el("button", { onclick: () => token(u.name) }, t("users.token"))))));
  document.querySelector("#audit tbody").replaceChildren(...audit.map((a) => el("tr", { class: `audit-${a.action}` },
    el("td", {}, fmtTime(a.at)), el("td", {}, a.action), el("td", {}, a.name ?? ""), el("td", {}, a.remote ?? ""), el("td", {}, a.detail ?? ""))));
}

async function setState(name, disable) {
  try { await api(`/api/users/${encodeURIComponent(name)}/${disable ? "disable" : "enable"}`, { method: "POST" }); await load(); }
  catch (err) { toast(err.message, true); }
}

async function token(name) {
  try { const r = await api(`/api/users/${encodeURIComponent(name)}/token`, { method: "POST" }); show(`${name}: ${r.token}`); }
  catch (err) { toast(err.message, true); }
}

function show(text) {
  const box = document.getElementById("created");
  box.textContent = text;
  box.hidden = false;
}

form.addEventListener("submit", async (ev) => {
  ev.preventDefault();
  const data = Object.fromEntries([...new FormData(form)].filter(([, v]) => v !== ""));
  try {
    const u = await api("/api/users", { method: "POST", json: data });
    show(`${t("users.created")}: ${u.name} / ${u.password} / ${u.token}`);
    form.reset();
    await load();
  } catch (err) { toast(err.message, true); }
});

load().catch((err) => toast(err.message, true));
