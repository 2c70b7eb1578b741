// The admin dashboard (CONTRACT.md section 8): sign-in, the live table, the alerts feed and the
// hash routes (#/ and #/session/<id>), wired to one admin WebSocket.

import { AlertsFeed } from "./alerts.js";
import { Api } from "./api.js";
import { el } from "./format.js";
import { SessionPage } from "./session.js";
import { AdminSocket, CLOSE_FORBIDDEN, CLOSE_SLOW } from "./socket.js";
import { SessionTable } from "./table.js";
import { ReviewQueue, VerdictForm } from "./review_queue.js";

const $ = (id) => document.getElementById(id);
// Per tab, gone when the tab closes; never in the URL, so never in history or server logs.
const TOKEN_KEY = "vigil.adminToken";

const REFUSED = {
  401:
    "The server refused this token. Use the admin token: VIGIL_AUTH_ADMIN_TOKEN, or the " +
    "admin-token file in the server's storage folder.",
  [CLOSE_FORBIDDEN]:
    "This token cannot open the dashboard: use the admin or a reviewer token, not a candidate's.",
};

// The views live as long as the page; a sign-in gives them a new socket and token.
const table = new SessionTable({
  table: $("sessions-table"),
  scroller: $("sessions-scroller"),
  summary: $("sessions-summary"),
  onAssessments: showAssessments,
});
const alerts = new AlertsFeed({
  list: $("alerts"),
  count: $("alerts-count"),
  nameOf: (id) => table.get(id)?.candidateName,
});
const sessionPage = new SessionPage();
const reviewQueue = new ReviewQueue();
const verdictForm = new VerdictForm();
let socket = null;
let signedIn = false;
// The cluster's nodes as the server last told ({type: "node"}): one that falls silent is named
// here; its sessions stay in the table with their last known state.
const nodes = new Map();

function showNodes() {
  const lost = [...nodes.values()].filter((node) => node.status === "unreachable");
  const line = $("nodes");
  line.hidden = lost.length === 0;
  line.textContent = lost.map((node) => `Node ${node.nodeId} unreachable since ` +
    new Date(node.lastSeen * 1000).toLocaleTimeString() + ": its sessions show their last known state")
    .join("; ");
}

function showSignIn(message = "") {
  signedIn = false;
  $("sign-in").hidden = false;
  $("overview").hidden = true;
  $("session-view").hidden = true;
  $("sign-out").hidden = true;
  $("sign-in-error").textContent = message;
  $("sign-in-submit").disabled = false;
  setConnection("offline", "Signed out");
  $("token").focus();
}

function setConnection(state, text) {
  const status = $("connection");
  status.dataset.state = state;
  status.textContent = text;
}

function start(token) {
  $("sign-in-error").textContent = "";
  $("sign-in-submit").disabled = true;
  const refused = (code) => {
    stop();
    sessionStorage.removeItem(TOKEN_KEY);
    showSignIn(REFUSED[code] ?? REFUSED[401]);
  };
  socket = new AdminSocket({
    token,
    onMessage: (message) => route(message, token),
    onStatus: (status) => showStatus(status),
    onRefused: (code) => refused(code === CLOSE_FORBIDDEN ? CLOSE_FORBIDDEN : 401),
  });
  sessionPage.attach(new Api(token, (status) => refused(status)), socket);
  reviewQueue.attach(new Api(token, (status) => refused(status)));
  verdictForm.attach(new Api(token, (status) => refused(status)));
  socket.subscribe("sessions");
  socket.subscribe("alerts");
  socket.start();
}

function stop() {
  // Nothing of the last token's view stays on screen or in memory.
  sessionPage.close();
  reviewQueue.close();
  if (socket) socket.stop();
  socket = null;
  table.clear();
  alerts.clear();
  nodes.clear();
  showNodes();
}

function showStatus({ state, delayMs, code, reconnects }) {
  $("connection").dataset.reconnects = String(reconnects);
  if (state === "live") setConnection("live", "Live");
  else if (state === "connecting") setConnection("connecting", "Connecting…");
  else {
    const why = code === CLOSE_SLOW ? "fell behind" : "connection lost";
    const wait = `${Math.max(1, Math.round(delayMs / 1000))} s`;
    const text = signedIn
      ? `Reconnecting in ${wait} (${why})`
      : `Cannot reach the server; retrying in ${wait}`;
    setConnection("waiting", text);
  }
}

function route(message, token) {
  switch (message.type) {
    case "snapshot":
      if (message.channel === "sessions") {
        table.snapshot(message.sessions);
        if (!signedIn) signedInWith(token);
      }
      break;
    case "event":
    case "state":
      if (message.channel === "sessions") table.update(message.state, message.event?.type);
      break;
    case "alert":
      alerts.add(message);
      sessionPage.onAlert(message);
      break;
    case "node":
      nodes.set(message.nodeId, message);
      showNodes();
      break;
    default:
      break;
  }
  sessionPage.onMessage(message);
}

function signedInWith(token) {
  signedIn = true;
  sessionStorage.setItem(TOKEN_KEY, token);
  $("token").value = "";
  $("sign-in").hidden = true;
  $("sign-out").hidden = false;
  showRoute();
}

function showRoute() {
  if (!signedIn) return;
  const match = /^#\/session\/(.+)$/.exec(location.hash);
  const onSession = match !== null;
  $("overview").hidden = onSession;
  $("session-view").hidden = !onSession;
  if (onSession) {
    const id = decodeURIComponent(match[1]);
    if (sessionPage.id !== id) sessionPage.open(id);
    if (verdictForm.sessionId !== id) verdictForm.open(id);
    $("session-title").focus();
    document.title = "Session · Vigil dashboard";
  } else {
    sessionPage.close();
    reviewQueue.load(); // verdicts may have been given since
    table.schedule(); // it may have been hidden: measure the viewport again
    document.title = "Vigil dashboard";
  }
}

function showAssessments(assessments) {
  const select = $("filter-assessment");
  const chosen = select.value;
  select.replaceChildren(
    el("option", { value: "", text: "All assessments" }),
    ...assessments.map((id) => el("option", { value: id, text: id })),
  );
  select.value = assessments.includes(chosen) ? chosen : "";
}

function readFilters() {
  table.setFilter({
    text: $("filter-text").value,
    status: $("filter-status").value,
    risk: $("filter-risk").value,
    assessment: $("filter-assessment").value,
  });
}

$("sign-in-form").addEventListener("submit", (event) => {
  event.preventDefault();
  const token = $("token").value.trim();
  if (!token) {
    $("sign-in-error").textContent = "Enter the admin token.";
    return;
  }
  stop();
  start(token);
});

$("sign-out").addEventListener("click", () => {
  stop();
  sessionStorage.removeItem(TOKEN_KEY);
  showSignIn("Signed out.");
});

$("filters").addEventListener("input", () => readFilters());
$("filters").addEventListener("submit", (event) => event.preventDefault());
$("filters").addEventListener("reset", () => setTimeout(readFilters));
window.addEventListener("hashchange", showRoute);

const saved = sessionStorage.getItem(TOKEN_KEY);
if (saved) start(saved);
else showSignIn();
