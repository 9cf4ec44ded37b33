// The camera wall: latest snapshot, health (live / stalled / offline), patrol-tour status.
import { ME, api, el, t, toast } from "./common.js";

const wall = document.getElementById("cameras");

async function load() {
  const cameras = await api("/api/cameras");
  const stamp = Date.now();
  wall.replaceChildren(...cameras.map((c) => {
    const state = c.status ? c.status.state : "unknown";
    const zonesHref = `/cameras/${encodeURIComponent(c.id)}/zones`;
    return el("article", { class: "cam card", "data-camera": c.id, "data-state": state },
      el("img", { src: `${c.snapshot_url}?t=${stamp}`, alt: c.name || c.id }),
      el("div", { class: "meta" },
        el("span", {}, el("strong", {}, c.name || c.id), el("br"), el("small", { class: "muted" }, `${c.township} ${c.grid}`)),
        el("span", { class: `state state-${state}` }, t(`cam.${state}`, state))),
      el("div", { class: "meta" },
        el("small", { class: "muted" }, c.status ? `${c.status.fps} fps · ${c.status.bitrate_kbps} kbps` : c.source.type),
        c.tour ? el("small", { class: "tour" }, `${t("cams.tour")}: ${c.tour.at ?? "–"} / ${c.tour.presets.join(", ")}`) : "",
        ME.role === "admin" ? el("a", { class: "edit-zones", href: zonesHref }, t("zones.edit")) : ""));
  }));
}

setInterval(() => load().catch(() => null), 3000);
load().catch((err) => toast(err.message, true));
