// One session's page (#/session/<id>): live summary, score chart, timeline, violations with their
// review, flagged frames, alerts, reports, and the proctor's interventions.

import { alertItem } from "./alerts.js";
import { ApiError, sessionPath } from "./api.js";
import { ScoreChart } from "./chart.js";
import { changesRecords, el, eventKind, formatDateTime, formatRisk, formatTime } from "./format.js";
import { Timeline } from "./timeline.js";
import { showMedia } from "./media.js";
import { showBehaviour } from "./behaviour.js";

const EVENTS_PAGE = 5000; // app/http/routes/events.py MAX_PAGE

const $ = (id) => document.getElementById(id);
const MAX_ALERTS = 100;
const MAX_FRAMES = 24; // thumbnails shown; the printable report has them all
const FINISHED = new Set(["COMPLETED", "TERMINATED", "FAILED"]);
// Which interventions make sense in which status; the server has the last word either way.
const ALLOWED = {
  IN_PROGRESS: ["warn", "pause", "terminate"],
  PAUSED: ["warn", "resume", "terminate"],
};

const SUMMARY_FIELDS = [
  ["candidateName", "Candidate"],
  ["assessmentId", "Assessment"],
  ["status", "Status"],
  ["connected", "Connected", (s) => (s.connected ? "online" : "offline")],
  ["verificationScore", "Verification score"],
  ["trustLevel", "Trust level"],
  ["riskLevel", "Risk", (s) => `${s.riskLevel} (${formatRisk(s.riskScore)})`],
  ["violationCount", "Violations"],
  ["warningsIssued", "Warnings issued"],
  ["currentQuestionId", "Current question", (s) => s.currentQuestionId ?? "—"],
  ["startTime", "Started", (s) => formatDateTime(s.startTime)],
  ["lastEventAt", "Last event", (s) => formatDateTime(s.lastEventAt)],
];

export class SessionPage {
  constructor() {
    this.api = null;
    this.socket = null;
    this.id = null;
    this.generation = 0; // answers for a page we already left are dropped
    this.state = null;
    this.violations = [];
    this.reviewing = null;
    this.armedTerminate = 0;
    this.refreshTimer = 0;
    this.frameUrls = new Map(); // frame path -> Promise of a blob: URL (the frames need the token)
    this.chart = new ScoreChart($("score-chart"), $("score-chart-caption"));
    this.timeline = new Timeline({
      list: $("timeline"),
      note: $("timeline-note"),
      warningsOnly: $("timeline-warnings-only"),
      showRoutine: $("timeline-routine"),
    });
    this.summary = new Map();
    for (const [field, label] of SUMMARY_FIELDS) {
      const dd = el("dd", { "data-field": field });
      $("session-summary").append(el("div", {}, el("dt", { text: label }), dd));
      this.summary.set(field, dd);
    }
    // Who is on camera comes with the session's detail (GET /candidate-sessions/:id), not its state.
    const identity = el("dd", { "data-field": "identity", text: "—" });
    $("session-summary").append(el("div", {}, el("dt", { text: "Who is on camera" }), identity));
    this.summary.set("identity", identity);
    for (const button of document.querySelectorAll("#intervene-buttons button")) {
      button.addEventListener("click", () => this.intervene(button));
    }
    $("review-form").addEventListener("submit", (event) => this.submitReview(event));
    $("review-cancel").addEventListener("click", () => $("review-dialog").close());
    $("report-html").addEventListener("click", () => this.download("html"));
    $("report-csv").addEventListener("click", () => this.download("csv"));
  }

  /** A sign-in's REST client and admin socket. */
  attach(api, socket) {
    this.close();
    this.api = api;
    this.socket = socket;
  }

  async open(sessionId) {
    this.close();
    const generation = ++this.generation;
    this.id = sessionId;
    this.loaded = false;
    this.state = null;
    this.violations = [];
    $("session-title").textContent = "Session";
    $("session-id").textContent = sessionId;
    $("session-error").textContent = "";
    $("intervene-result").textContent = "";
    $("review-result").textContent = "";
    $("report-status").textContent = "";
    $("session-alerts").replaceChildren();
    $("flagged-frames").replaceChildren(el("li", { text: "Loading…" }));
    $("violations-body").replaceChildren();
    this.timeline.clear();
    this.chart.reset();
    this.showControls();
    this.socket.subscribe(this.channel()).then(
      (reply) => {
        if (generation !== this.generation || reply === null) return;
        if (reply.type === "error") $("session-error").textContent = reply.message;
      },
      () => {}, // the connection dropped: the socket subscribes again when it is back
    );
    await this.load(generation);
  }

  /** Every stored event of the session, by pages of `GET .../events`. */
  async allEvents(sessionId) {
    const events = [];
    for (let after = 0; ; ) {
      const page = await this.api.json(
        sessionPath(sessionId, `/events?after=${after}&limit=${EVENTS_PAGE}`),
      );
      events.push(...page);
      if (page.length < EVENTS_PAGE) return events;
      after = page[page.length - 1].offset;
    }
  }

  /** The stored history, merged with what came live; again after every reconnect, since
   * events stored while the socket was down were never sent to this page. */
  async load(generation) {
    const sessionId = this.id;
    try {
      const [detail, report, events] = await Promise.all([
        this.api.json(sessionPath(sessionId)),
        this.api.json(sessionPath(sessionId, "/report")),
        this.allEvents(sessionId),
      ]);
      if (generation !== this.generation) return;
      this.loaded = true;
      this.showState(detail.state);
      this.showViolations(detail.violations);
      this.showReport(report);
      this.timeline.merge(events);
      this.chart.merge(report.ledger?.timeline ?? []);
    } catch (error) {
      if (generation !== this.generation) return;
      $("session-error").textContent =
        error instanceof ApiError && error.status === 404
          ? `There is no session ${sessionId} (it may have been erased).`
          : `Could not load the session: ${error.message}`;
      this.timeline.note.textContent = "";
    }
  }

  close() {
    if (this.id !== null && this.socket !== null) this.socket.unsubscribe(this.channel());
    for (const url of this.frameUrls.values()) url.then((u) => URL.revokeObjectURL(u), () => {});
    this.frameUrls = new Map();
    this.id = null;
    this.generation++;
    clearTimeout(this.refreshTimer);
  }

  channel() {
    return `session:${this.id}`;
  }

  /** Admin socket messages of this page's channel. */
  onMessage(message) {
    if (this.id === null || message.channel !== this.channel()) return;
    if (message.type === "snapshot") {
      if (message.sessions[0]) this.showState(message.sessions[0]);
      if (this.loaded) this.load(this.generation); // subscribed again after a drop: fill the gap
    } else if (message.type === "state") {
      this.showState(message.state);
    } else if (message.type === "event") {
      const { event, state } = message;
      this.timeline.add(event);
      this.chart.add(event.offset, event.ts, state.verificationScore, state.riskScore);
      const counted = this.state?.violationCount;
      this.showState(state);
      if (
        state.violationCount !== counted ||
        eventKind(event.type) === "warning" ||
        changesRecords(event.type) // the violations and the report are read again
      ) {
        this.refreshSoon();
      }
    }
  }

  onAlert(alert) {
    if (alert.sessionId !== this.id) return;
    const list = $("session-alerts");
    list.prepend(alertItem(alert, this.state?.candidateName));
    while (list.childElementCount > MAX_ALERTS) list.lastElementChild.remove();
  }

  showState(state) {
    if (!state || (this.state && state.lastOffset < this.state.lastOffset)) return;
    this.state = state;
    $("session-title").textContent = state.candidateName || state.sessionId;
    for (const [field, , format] of SUMMARY_FIELDS) {
      this.summary.get(field).textContent = format ? format(state) : String(state[field] ?? "—");
    }
    this.summary.get("status").className = `status-${state.status.toLowerCase()}`;
    this.summary.get("riskLevel").className = `risk-${state.riskLevel}`;
    this.showControls();
  }

  showControls() {
    const allowed = this.state
      ? (ALLOWED[this.state.status] ?? [])
      : ["warn", "pause", "resume", "terminate"];
    for (const button of document.querySelectorAll("#intervene-buttons button")) {
      button.disabled = !allowed.includes(button.dataset.action);
    }
    if (this.state && FINISHED.has(this.state.status)) {
      $("intervene-result").textContent =
        `The session is ${this.state.status}: no more interventions.`;
    }
  }

  async intervene(button) {
    const action = button.dataset.action;
    if (action === "terminate" && Date.now() > this.armedTerminate) {
      // Ending an exam cannot be undone: ask for a second press.
      this.armedTerminate = Date.now() + 5000;
      $("intervene-result").textContent =
        "Press Terminate again within 5 seconds to end the assessment.";
      return;
    }
    this.armedTerminate = 0;
    const message = $("intervene-message").value.trim();
    const buttons = document.querySelectorAll("#intervene-buttons button");
    for (const b of buttons) b.disabled = true;
    $("intervene-result").textContent = `Sending ${action}…`;
    try {
      const command = { type: "intervene", sessionId: this.id, action, message };
      const reply = await this.socket.request(command);
      $("intervene-result").textContent =
        reply.type === "intervened"
          ? `Sent ${reply.action}: recorded as event #${reply.offset}.`
          : `Refused (${reply.code}): ${reply.message}`;
    } catch (error) {
      $("intervene-result").textContent = `Not sent: ${error.message}. Try again when reconnected.`;
    } finally {
      this.showControls();
    }
  }

  refreshSoon() {
    clearTimeout(this.refreshTimer);
    const generation = this.generation;
    this.refreshTimer = setTimeout(async () => {
      try {
        const [detail, report] = await Promise.all([
          this.api.json(sessionPath(this.id)),
          this.api.json(sessionPath(this.id, "/report")),
        ]);
        if (generation !== this.generation) return;
        this.showViolations(detail.violations);
        this.showIdentity(detail.identity);
        this.showReport(report);
      } catch (error) {
        if (generation === this.generation) $("session-error").textContent = error.message;
      }
    }, 300);
  }

  showIdentity(identity) {
    const shown = this.summary.get("identity");
    if (!identity) return;
    const reference = identity.reference ? ` (reference: ${identity.reference})` : "";
    const score =
      identity.lastMatchScore === undefined ? "" : `, last match ${identity.lastMatchScore.toFixed(2)}`;
    const words = { none: "not checked", enrolled: "enrolled", verified: "verified", mismatch: "MISMATCH" };
    shown.textContent = `${words[identity.status] ?? identity.status}${reference}${score}`;
    shown.className = `identity-${identity.status}`;
  }

  showViolations(violations) {
    this.violations = violations;
    this.timeline.markViolations(violations.map((v) => v.details?.offset).filter(Number.isInteger));
    const rows = violations.map((v) => this.violationRow(v));
    $("violations-body").replaceChildren(...rows);
    $("violations-note").textContent = violations.length ? "" : "No violations.";
  }

  violationRow(v) {
    const review = v.review;
    const decided = review?.decision === "dismiss" ? "dismissed" : "confirmed";
    const status = review ? `${decided} by ${review.by}: ${review.reason}` : "open";
    const label = `${v.type} at event ${v.details?.offset ?? "?"}`;
    const button = (decision, text) => {
      const b = el("button", { type: "button", text, "aria-label": `${text} ${label}` });
      b.dataset.decision = decision;
      b.addEventListener("click", () => this.askReview(v, decision));
      return b;
    };
    return el(
      "tr",
      { "data-violation-id": v.id, class: review ? `reviewed ${review.decision}` : "open" },
      el("td", { text: v.type }, accommodatedBadge(v)),
      el(
        "td",
        {},
        el("span", { class: `badge sev-${v.severity.toLowerCase()}`, text: v.severity }),
      ),
      el("td", { text: v.questionId ?? "—" }),
      el("td", { text: `${formatTime(v.timestamp)} (#${v.details?.offset ?? "?"})` }),
      el("td", { class: "review-status", text: status }),
      el("td", { class: "actions" }, button("dismiss", "Dismiss"), button("confirm", "Confirm")),
    );
  }

  askReview(violation, decision) {
    this.reviewing = { violation, decision };
    const verb = decision === "dismiss" ? "Dismiss" : "Confirm";
    $("review-title").textContent = `${verb} violation`;
    const offset = violation.details?.offset ?? "?";
    $("review-what").textContent =
      `${verb} ${violation.type} (${violation.severity}) at event #${offset}` +
      (decision === "dismiss" ? ": its penalty stops counting." : ": it keeps counting.");
    $("review-submit").textContent = verb;
    $("review-reason").value = "";
    $("review-error").textContent = "";
    $("review-dialog").showModal();
  }

  async submitReview(event) {
    event.preventDefault();
    const { violation, decision } = this.reviewing;
    const reason = $("review-reason").value.trim();
    if (!reason) {
      $("review-error").textContent = "Give a reason: it is kept with the decision.";
      return;
    }
    $("review-submit").disabled = true;
    try {
      const answer = await this.api.post(
        sessionPath(this.id, `/violations/${encodeURIComponent(violation.id)}/review`),
        { decision, reason },
      );
      $("review-dialog").close();
      const { automatic, reviewed } = answer;
      $("review-result").textContent =
        `${decision === "dismiss" ? "Dismissed" : "Confirmed"} ${violation.type}: ` +
        `verification score ` +
        `${reviewed.verificationScore} (automatic ${automatic.verificationScore}), risk ` +
        `${formatRisk(reviewed.riskScore)}.`;
      const updated = answer.violation;
      this.violations = this.violations.map((v) => (v.id === updated.id ? updated : v));
      this.showViolations(this.violations);
    } catch (error) {
      $("review-error").textContent = `Not saved: ${error.message}`;
    } finally {
      $("review-submit").disabled = false;
    }
  }

  showReport(report) {
    showMedia(report, this.violations ?? []); // issue 24: recording, clips, jumps
    showBehaviour(report); // issue 28: typing against pasting, the findings, the pair
    const frames = report.detailedFindings?.flaggedFrames ?? [];
    $("flagged-frames").replaceChildren(
      ...(frames.length
        ? frames.slice(-MAX_FRAMES).map((path) => this.frameItem(path))
        : [el("li", { class: "none", text: "None" })]),
    );
    const list = $("session-alerts");
    if (!list.childElementCount) {
      const alerts = (report.alerts ?? []).slice(-MAX_ALERTS).reverse();
      list.replaceChildren(
        ...alerts.map((a) =>
          alertItem(
            { ...a, sessionId: this.id, event: { ts: a.ts, offset: a.offset, type: a.eventType } },
            this.state?.candidateName,
          ),
        ),
      );
    }
  }

  /** A kept webcam frame (`/candidate-sessions/<id>/frames/<offset>.jpg`), fetched with the
   * token and shown from a blob: URL. */
  frameItem(path) {
    const offset = /\/(\d+)\.jpg$/.exec(path)?.[1] ?? "?";
    const img = el("img", { alt: `Webcam frame at event #${offset}`, width: 160, height: 120 });
    if (!this.frameUrls.has(path)) {
      this.frameUrls.set(
        path,
        this.api.blob(path).then((blob) => URL.createObjectURL(blob)),
      );
    }
    this.frameUrls.get(path).then(
      (url) => {
        img.src = url;
      },
      () => {
        img.alt = `The frame at event #${offset} could not be loaded`;
      },
    );
    return el("li", {}, el("figure", {}, img, el("figcaption", { text: `event #${offset}` })));
  }

  /** The report needs the bearer token, so it is fetched and handed over as a file. */
  async download(format) {
    const status = $("report-status");
    status.textContent = "Preparing…";
    try {
      const blob = await this.api.blob(sessionPath(this.id, `/report?format=${format}`));
      const url = URL.createObjectURL(blob);
      const name = `${this.id}-${format === "html" ? "report.html" : "events.csv"}`;
      const link = el("a", { href: url, download: name });
      document.body.append(link);
      link.click();
      link.remove();
      setTimeout(() => URL.revokeObjectURL(url), 60000);
      status.textContent =
        format === "html"
          ? "Saved the printable report: open the downloaded file and print it."
          : "Saved the events as CSV.";
    } catch (error) {
      status.textContent = `Could not get the report: ${error.message}`;
    }
  }
}

// Exam control: a violation of a check disabled for this candidate (contract 9.3) costs nothing.
function accommodatedBadge(violation) {
  if (!violation.accommodated) return null;
  return el("span", {
    class: "badge accommodated",
    text: "accommodated",
    title: `${violation.type} is disabled for this candidate (accommodations.disabledChecks)`,
  });
}

