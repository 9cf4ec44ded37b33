import { t } from "./common.js";

const form = document.getElementById("login");
form.addEventListener("submit", async (ev) => {
  ev.preventDefault();
  const data = Object.fromEntries(new FormData(form));
  const resp = await fetch("/api/auth/login", {
    method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(data),
    credentials: "same-origin",
  });
  const error = document.getElementById("login-error");
  if (resp.ok) {
    const next = new URLSearchParams(location.search).get("next");
    location.href = next && next.startsWith("/") && !next.startsWith("//") ? next : "/";
    return;
  }
  error.textContent = resp.status === 429 ? t("login.limited") : t("login.failed");
  error.hidden = false;
});
