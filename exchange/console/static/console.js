// MRA exchange operations console. Vanilla JS, no build step: hash routes, fetch polling.
"use strict";

const META = (name) => document.querySelector(`meta[name="${name}"]`).content;
const CSRF = META("csrf-token");
const ROLE = META("console-role");
const POLL_MS = 4000;
let timer = null;
let generation = 0;
const folded = new Map(); // which documents the user opened or closed: kept across live refreshes

// -- DOM helpers (text only: nothing from the server is parsed as HTML) --------------------

function h(tag, attrs, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === null || v === undefined || v === false) continue;
    if (k.startsWith("on")) el.addEventListener(k.slice(2), v);
    else if (k === "class") el.className = v;
    else el.setAttribute(k, v === true ? "" : v);
  }
  for (const c of children.flat()) {
    if (c === null || c === undefined || c === false) continue;
    el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return el;
}

const STATE_CLASS = {
  ACKNOWLEDGED: "ok", ACKNOWLEDGED_WITH_WARNING: "warn", DELIVERED_DOMESTIC: "ok", DOWNLOADED: "ok",
  SEND_FAILURE: "bad", DEAD_LETTERED: "bad", REJECTED: "bad", SEND_ATTEMPT_FAILED: "warn",
  WAITING_FOR_RETRY: "warn", REPLAYED: "info", SEND_ENQUEUED: "info", SEND_IN_PROGRESS: "info",
  WAITING_FOR_RECEIPT: "info", closed: "ok", open: "bad", "half-open": "warn",
  valid: "ok", expiring: "warn", expired: "bad", error: "bad",
};

const HEALTH_CLASS = { healthy: "ok", degraded: "warn", stalled: "bad", not_configured: "bad" };

function badge(text, cls) {
  if (text === null || text === undefined) return h("span", { class: "muted" }, "—");
  return h("span", { class: `badge ${cls || STATE_CLASS[text] || ""}`, "data-state": text }, String(text).replaceAll("_", " "));
}

function utc(iso) {
  if (!iso) return "—";
  return iso.replace("T", " ").replace(/\.\d+Z$/, "Z").replace(/Z$/, " UTC");
}

function age(seconds) {
  if (seconds === null || seconds === undefined) return "—";
  const s = Math.floor(seconds);
  if (s < 120) return `${s} s`;
  if (s < 7200) return `${Math.floor(s / 60)} min`;
  if (s < 172800) return `${Math.floor(s / 3600)} h ${Math.floor((s % 3600) / 60)} min`;
  return `${Math.floor(s / 86400)} d`;
}

function num(v) { return v === null || v === undefined ? "—" : String(v); }

function render(root, ...children) {
  root.replaceChildren(...children.flat(Infinity).filter((c) => c !== null && c !== undefined && c !== false));
}

function empty(icon, text) { return h("div", { class: "empty" }, h("span", { class: "big" }, icon), text); }

function flash(text, kind) {
  const el = document.getElementById("flash");
  el.textContent = text;
  el.className = `flash ${kind || ""}`;
  el.hidden = !text;
}

function msgLink(mid) { return h("a", { href: `#/message/${encodeURIComponent(mid)}`, class: "mono" }, mid); }

// -- API ----------------------------------------------------------------------------------

class Stale extends Error {}

async function api(path, options) {
  const asked = generation; // a page's read answered after the operator moved on must not draw over the new page
  const res = await fetch(`/ops/api/${path}`, { credentials: "same-origin", ...options });
  if (res.status === 401) { window.location.href = "/ops/login"; throw new Error("signed out"); }
  const data = await res.json().catch(() => ({}));
  if (!options && asked !== generation) throw new Stale("a newer page was asked for");
  if (!res.ok && !(options && options.allowError)) throw new Error(data.error || `${res.status} ${res.statusText}`);
  return { status: res.status, data };
}

async function replay(partner, ids) {
  const res = await api("replay", {
    method: "POST",
    headers: { "Content-Type": "application/json", "X-CSRF-Token": CSRF },
    body: JSON.stringify({ partner, messageIds: ids }),
    allowError: true,
  });
  return res;
}

function replayButton(partner, mid, after) {
  if (ROLE !== "operator") return null;
  return h("button", {
    class: "danger replay", "data-partner": partner, "data-message": mid,
    onclick: async (ev) => {
      const ok = window.confirm(`Replay message ${mid} to ${partner}?\n\nIt goes back to the partner's work queue and is sent again. The replay is audited with your name.`);
      if (!ok) return;
      ev.target.disabled = true;
      ev.target.textContent = "Replaying…";
      try {
        const { status, data } = await replay(partner, [mid]);
        if (status === 200) flash(`Replayed ${data.replayed.join(", ")} to ${partner} (audited as ${data.operator}).`, "ok");
        else flash(`Not replayed: ${data.error || (data.missing || []).join(", ") + " not among the dead letters"}`, "bad");
      } catch (e) { flash(`Replay failed: ${e.message}`, "bad"); }
      if (after) after();
    },
  }, "Replay");
}

// -- views --------------------------------------------------------------------------------

async function viewOverview(root) {
  const { data } = await api("overview");
  const cards = data.partners.map((p) => h("div", { class: "card", "data-partner": p.partner },
    h("div", { class: "title" }, h("span", {}, p.partner.toUpperCase(), " ", h("span", { class: "muted small" }, p.transport)),
      badge(p.health, HEALTH_CLASS[p.health])),
    h("div", { class: "name" }, p.name),
    h("div", { class: `reason small ${HEALTH_CLASS[p.health] || ""}`, "data-health": p.health || "" }, p.reason || "health unknown"),
    h("div", { class: "metrics" },
      metric("backlog", p.backlog), metric("oldest", age(p.oldestMessageAgeSeconds)),
      metric("dead letters", p.deadLetters, p.deadLetters > 0)),
    h("div", { class: "metrics second" },
      metric("sent / h", p.sentLastHour), metric("ack'd / h", p.acknowledgedLastHour),
      metric("failed / h", p.failedLastHour, p.failedLastHour > 0)),
    h("div", { class: "foot-row" }, h("span", {}, "circuit ", p.circuit ? badge(p.circuit) : "n/a"),
      h("span", {}, "last ok ", p.lastSuccess ? utc(p.lastSuccess) : "—"))));
  const queues = Object.entries(data.queues || {});
  render(root, 
    h("div", { class: "head-row" }, h("h1", {}, "Overview"), h("span", { class: "spacer" }),
      h("span", { class: `live ${data.brokerError ? "stale" : ""}`, id: "updated" }, `updated ${utc(data.time)}`)),
    data.brokerError ? h("p", { class: "flash bad" }, `Broker not reachable: ${data.brokerError}`) : null,
    data.auditError ? h("p", { class: "flash bad" }, `Audit trail not read: ${data.auditError}`) : null,
    h("div", { class: "cards" }, cards),
    h("h2", {}, "Queues"),
    queues.length ? h("div", { class: "table-wrap" }, h("table", { id: "queues" },
      h("thead", {}, h("tr", {}, h("th", {}, "Queue"), h("th", {}, "Type"), h("th", { class: "num" }, "Depth"), h("th", { class: "num" }, "Consumers"))),
      h("tbody", {}, queues.map(([name, q]) => h("tr", {},
        h("td", { class: "mono" }, name), h("td", {}, q.type),
        h("td", { class: "num" }, q.exists ? (q.depth === null ? "stream" : (q.depth > 0 && name.endsWith(".dead") ? badge(String(q.depth), "bad") : num(q.depth))) : badge("missing", "bad")),
        h("td", { class: "num" }, num(q.consumers)))))))
      : empty("∅", "No queue information (is the broker reachable?)"),
  );
}

function metric(label, value, bad) {
  return h("div", { class: `metric ${bad ? "bad" : ""}` }, h("div", { class: "v" }, num(value)), h("div", { class: "k" }, label));
}

async function viewSearch(root, query) {
  const q = query || "";
  const input = h("input", { id: "search-q", type: "search", value: q, placeholder: "Message id, certificate number, PT round, or a facility, applicant, manufacturer or laboratory name", autofocus: true });
  const form = h("form", { class: "search-form", onsubmit: (e) => { e.preventDefault(); location.hash = `#/search/${encodeURIComponent(input.value.trim())}`; } },
    input, h("button", { class: "primary", type: "submit", id: "search-go" }, "Search"));
  const results = h("div", { id: "results" });
  render(root, h("h1", {}, "Messages"), form, results);
  if (!q) { results.append(empty("🔎", "Search by message id, certificate number, PT round, or a facility, applicant, manufacturer or laboratory name (Chinese or English).")); return; }
  const { data } = await api(`search?q=${encodeURIComponent(q)}`);
  if (!data.messages.length) { results.append(empty("∅", `No message found for “${q}” (ids, certificate numbers, PT rounds, and names in the documents sent).`)); return; }
  results.append(h("div", { class: "table-wrap" }, h("table", { id: "search-results" },
    h("thead", {}, h("tr", {}, h("th", {}, "Message"), h("th", {}, "Record"), h("th", {}, "Family"), h("th", {}, "Partners"), h("th", {}, "First seen"), h("th", {}, "Last event"))),
    h("tbody", {}, data.messages.map((m) => h("tr", { "data-message": m.messageId },
      h("td", {}, msgLink(m.messageId)), h("td", { class: "mono" }, m.recordId || "—"), h("td", {}, m.kind || "—"),
      h("td", {}, Object.entries(m.partners).map(([p, s]) => h("span", { class: "gap" }, `${p} `, badge(s)))),
      h("td", {}, utc(m.firstTime)), h("td", {}, utc(m.lastTime))))))));
  if (data.truncated) results.append(h("p", { class: "muted" }, "Only the latest messages are shown."));
}

function docBlock(mid, partner, doc, kind, label) {
  if (!doc) return h("p", { class: "muted" }, `No ${label} kept.`);
  const href = `/ops/api/document?id=${encodeURIComponent(mid)}&partner=${encodeURIComponent(partner)}&kind=${kind}&sha256=${doc.sha256}&download=1`;
  const key = `${mid}/${partner}/${kind}/${doc.sha256}`;
  const open = folded.has(key) ? folded.get(key) : kind === "receipt";
  return h("div", { class: `docblock doc-${kind}` },
    h("a", { href, class: "download", "data-kind": kind, download: "" }, "download"),
    h("details", { open, ontoggle: (e) => folded.set(key, e.target.open) },
      h("summary", {}, `${label}: ${doc.contentType}, ${doc.bytes} bytes, sha256 ${doc.sha256.slice(0, 16)}…`),
      doc.pretty !== null ? h("pre", { class: "doc" }, doc.pretty) : h("p", { class: "muted" }, "Too large to show: download it.")));
}

async function viewMessage(root, mid) {
  const { data } = await api(`message?id=${encodeURIComponent(mid)}`);
  const refresh = () => route();
  const deliveries = data.deliveries.map((d) => h("div", { class: "delivery", "data-partner": d.partner },
    h("div", { class: "head-row" }, h("h3", {}, d.partner.toUpperCase()), badge(d.state), h("span", { class: "spacer" }),
      d.replayable && data.mayReplay ? replayButton(d.partner, data.messageId, refresh) : null),
    h("dl", { class: "kv" },
      h("dt", {}, "last event"), h("dd", {}, utc(d.time)),
      h("dt", {}, "sends"), h("dd", {}, num(d.attempts)),
      d.reason ? [h("dt", {}, "reason"), h("dd", { class: "reason" }, d.reason)] : null),
    docBlock(data.messageId, d.partner, d.document, "document", "Document sent"),
    d.receipts.length ? d.receipts.map((r, i) => docBlock(data.messageId, d.partner, r, "receipt", d.receipts.length > 1 ? `Receipt ${i + 1}` : "Receipt"))
      : h("p", { class: "muted" }, d.transport === "stream" ? "Appended to the stream: this transport has no receipts." : "No receipt from the partner yet.")));
  render(root, 
    h("div", { class: "head-row" }, h("h1", {}, "Message ", h("span", { class: "mono", id: "message-id" }, data.messageId)),
      h("span", { class: "spacer" }), h("span", { class: "live" }, "live")),
    h("dl", { class: "kv panel" },
      h("dt", {}, "record"), h("dd", { class: "mono", id: "record-id" }, data.recordId || "—"),
      h("dt", {}, "family"), h("dd", {}, data.kind || "—"),
      h("dt", {}, "first seen"), h("dd", {}, utc(data.firstTime)),
      h("dt", {}, "partners"), h("dd", {}, Object.entries(data.partners).map(([p, s]) => h("span", { class: "gap" }, `${p} `, badge(s))))),
    h("h2", {}, "Deliveries"),
    h("div", { class: "panel" }, deliveries.length ? deliveries : empty("∅", "No partner deliveries for this message.")),
    h("h2", {}, "Audit timeline"),
    h("div", { class: "table-wrap" }, h("table", { id: "timeline" },
      h("thead", {}, h("tr", {}, h("th", { class: "num" }, "#"), h("th", {}, "Time (UTC)"), h("th", {}, "Event"), h("th", {}, "Partner"), h("th", {}, "Actor"), h("th", {}, "Details"))),
      h("tbody", {}, data.timeline.map((e) => h("tr", { "data-event": e.event, "data-partner": e.partner || "" },
        h("td", { class: "num muted" }, e.seq), h("td", {}, utc(e.time)), h("td", {}, badge(e.event)),
        h("td", {}, e.partner || "—"), h("td", { class: e.actor === "service" ? "muted" : "" }, e.actor),
        h("td", { class: "small" }, details(e.details))))))),
    refusedRequests(data),
  );
}

function details(d) {
  const parts = Object.entries(d || {}).filter(([, v]) => v !== null && v !== "" && !(Array.isArray(v) && !v.length));
  if (!parts.length) return "";
  return parts.map(([k, v]) => h("span", { class: "detail" }, h("span", { class: "muted" }, `${k}: `), typeof v === "object" ? JSON.stringify(v) : String(v)));
}

function refusedRequests(data) {
  if (!(data.refusedRequests || []).length) return null;
  return [h("h2", {}, "Requests by other partners, refused"),
    h("p", { class: "muted" }, "Another partner named this message and was refused; not part of this message's history."),
    h("div", { class: "table-wrap" }, h("table", { id: "refused" },
      h("thead", {}, h("tr", {}, h("th", {}, "Time (UTC)"), h("th", {}, "Event"), h("th", {}, "Actor"), h("th", {}, "Details"))),
      h("tbody", {}, data.refusedRequests.map((e) => h("tr", { "data-event": e.event },
        h("td", {}, utc(e.time)), h("td", {}, badge(e.event)), h("td", {}, e.actor), h("td", { class: "small" }, details(e.details)))))))];
}

const chosen = new Set(); // dead letters ticked for a bulk replay ("partner message-id"), kept across refreshes

async function replayChosen() {
  const byPartner = new Map();
  for (const key of chosen) {
    const [partner, ...rest] = key.split(" ");
    if (!byPartner.has(partner)) byPartner.set(partner, []);
    byPartner.get(partner).push(rest.join(" "));
  }
  const summary = [...byPartner].map(([p, ids]) => `${p}: ${ids.length}`).join(", ");
  if (!window.confirm(`Replay ${chosen.size} dead letters (${summary})?\n\nThey go back to the partners' work queues and are sent again. The replay is audited with your name.`)) return;
  const done = [];
  const problems = [];
  for (const [partner, ids] of byPartner) {
    try {
      const { status, data } = await replay(partner, ids);
      done.push(...(data.replayed || []));
      if (status !== 200 || (data.missing || []).length) problems.push(`${partner}: ${data.error || (data.missing || []).join(", ") + " not among the dead letters"}`);
    } catch (e) { problems.push(`${partner}: ${e.message}`); }
  }
  chosen.clear();
  flash(`Replayed ${done.length} message(s).${problems.length ? " Not replayed: " + problems.join("; ") : ""}`, problems.length ? "bad" : "ok");
  route();
}

async function viewDeadLetters(root) {
  const { data } = await api("dead-letters");
  const rows = data.deadLetters;
  const live = new Set(rows.map((r) => `${r.partner} ${r.messageId}`));
  for (const key of [...chosen]) if (!live.has(key)) chosen.delete(key);
  const depths = Object.entries(data.queueDepths).map(([q, n]) => h("span", { class: "gap wide" }, h("span", { class: "mono" }, q), " ", n ? badge(String(n), "bad") : badge(n === null || n === undefined ? "?" : "0", n === null || n === undefined ? "" : "ok")));
  const bulk = h("button", { class: "danger", id: "replay-chosen", disabled: !chosen.size, onclick: replayChosen }, `Replay selected (${chosen.size})`);
  const tick = (key) => h("input", {
    type: "checkbox", class: "choose", "aria-label": `select ${key}`, checked: chosen.has(key),
    onchange: (e) => {
      if (e.target.checked) chosen.add(key); else chosen.delete(key);
      bulk.textContent = `Replay selected (${chosen.size})`;
      bulk.disabled = !chosen.size;
    },
  });
  render(root,
    h("div", { class: "head-row" }, h("h1", {}, "Dead letters and send failures"), h("span", { class: "spacer" }),
      data.mayReplay && rows.length ? bulk : null, h("span", { class: "live" }, "live")),
    h("p", { class: "muted" }, "Messages whose last outcome for a partner is SEND_FAILURE or DEAD_LETTERED, and records refused at intake (mra.rejects) (audit trail, last ", data.window, "). ",
      data.mayReplay ? "Replay sends one back to the partner's work queue; it is audited with your name." : "You are a viewer: replay needs an operator."),
    h("p", {}, depths),
    rows.length ? h("div", { class: "table-wrap" }, h("table", { id: "dead-letters" },
      h("thead", {}, h("tr", {}, data.mayReplay ? h("th", {}, "") : null, h("th", {}, "Partner"), h("th", {}, "Message"), h("th", {}, "Record"), h("th", {}, "State"), h("th", {}, "Reason"), h("th", {}, "Since (UTC)"), h("th", {}, ""))),
      h("tbody", {}, rows.map((r) => h("tr", { "data-message": r.messageId, "data-partner": r.partner },
        data.mayReplay ? h("td", {}, r.replayable ? tick(`${r.partner} ${r.messageId}`) : null) : null,
        h("td", {}, r.partner || h("span", { class: "mono", title: "refused at intake" }, r.queue)),
        h("td", {}, r.messageId ? msgLink(r.messageId) : "—"), h("td", { class: "mono" }, r.recordId || "—"),
        h("td", {}, badge(r.state)), h("td", { class: "reason" }, r.reason || "—"), h("td", {}, utc(r.time)),
        h("td", {}, data.mayReplay && r.replayable ? replayButton(r.partner, r.messageId, () => route())
          : (r.replayable ? null : h("span", { class: "muted small" }, r.partner
            ? "pulled by the partner: no dead letter to replay" : "refused at intake: the input must be fixed and sent again"))))))))
      : empty("✓", "No dead letters: every message was delivered or is still on its way."),
  );
}

async function viewAgreements(root) {
  const { data } = await api("agreements");
  const certRow = (c) => h("tr", { "data-status": c.status },
    h("td", {}, c.label), h("td", { class: "small" }, c.subject || c.error || "—"),
    h("td", {}, c.notAfter ? utc(c.notAfter) : "—"),
    h("td", { class: "num" }, c.daysLeft === undefined ? "—" : c.daysLeft),
    h("td", {}, badge(c.status)));
  const certTable = (certs) => certs.length ? h("div", { class: "table-wrap" }, h("table", {},
    h("thead", {}, h("tr", {}, h("th", {}, "Certificate"), h("th", {}, "Subject"), h("th", {}, "Expires"), h("th", { class: "num" }, "Days left"), h("th", {}, "Status"))),
    h("tbody", {}, certs.map(certRow)))) : h("p", { class: "muted" }, "No certificates in this agreement.");
  render(root, 
    h("h1", {}, "Agreements"),
    h("p", { class: "muted" }, `From ${data.configPath || "the shipped agreements"}. Certificates are flagged ${data.warningDays} days before they expire.`),
    data.ourCertificate ? h("div", { class: "panel" }, h("h3", {}, "Our signing certificate"), certTable([data.ourCertificate])) : null,
    data.partners.map((p) => h("div", { class: "panel", "data-partner": p.partner },
      h("div", { class: "head-row" }, h("h2", { class: "flush" }, p.partner.toUpperCase()), badge(p.transport, "info"),
        p.publicOnly ? badge("public fields only", "warn") : null, h("span", { class: "spacer" }),
        p.certificates.some((c) => c.status !== "valid") ? badge("certificate attention", "bad") : null),
      h("p", { class: "muted" }, p.name),
      h("dl", { class: "kv" },
        h("dt", {}, "endpoint"), h("dd", { class: "mono" }, p.endpoint),
        h("dt", {}, "families"), h("dd", {}, p.families.join(", ")),
        Object.keys(p.scope).length ? [h("dt", {}, "scope"), h("dd", {}, Object.entries(p.scope).map(([family, limits]) =>
          h("div", {}, `${family}: `, Object.entries(limits).map(([k, v]) => `${k} ${v.join(", ")}`).join("; "))))] : null,
        h("dt", {}, "retries"), h("dd", {}, p.retrySeconds.map((s) => `${s} s`).join(" → ")),
        h("dt", {}, "schemas"), h("dd", {}, p.schemas.length ? p.schemas.map((s) => h("span", { class: "gap" }, badge(`${s.family} ${s.version}`, "info"))) : "—")),
      certTable(p.certificates))),
  );
}

// -- router -------------------------------------------------------------------------------

const LIVE = new Set(["overview", "message", "dead-letters"]);

async function route() {
  clearTimeout(timer);
  const mine = ++generation;
  const [, name = "overview", ...rest] = (location.hash || "#/overview").split("/");
  const arg = decodeURIComponent(rest.join("/"));
  for (const a of document.querySelectorAll("[data-nav]")) {
    a.classList.toggle("active", a.dataset.nav === (name === "message" ? "search" : name));
  }
  const root = document.getElementById("view");
  const quick = document.getElementById("quick-q");
  if (quick && document.activeElement !== quick) quick.value = name === "search" ? arg : ""; // no stale query on other pages
  try {
    if (name === "overview") await viewOverview(root);
    else if (name === "search") await viewSearch(root, arg);
    else if (name === "message") await viewMessage(root, arg);
    else if (name === "dead-letters") await viewDeadLetters(root);
    else if (name === "agreements") await viewAgreements(root);
    else render(root, empty("?", "No such page."));
  } catch (e) {
    if (mine === generation) render(root, h("p", { class: "flash bad" }, e.message));
  }
  if (mine === generation && LIVE.has(name)) timer = setTimeout(() => { if (mine === generation) route(); }, POLL_MS);
}

function tick() { document.getElementById("clock").textContent = new Date().toISOString().replace("T", " ").slice(0, 19) + " UTC"; }

window.addEventListener("hashchange", () => { flash(""); route(); });
document.addEventListener("DOMContentLoaded", () => {
  document.getElementById("quick-search").addEventListener("submit", (e) => {
    e.preventDefault();
    const q = document.getElementById("quick-q").value.trim();
    if (q) location.hash = `#/search/${encodeURIComponent(q)}`;
  });
  tick();
  setInterval(tick, 1000);
  route();
});
