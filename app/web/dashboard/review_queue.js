// The review queue (issue 23 item 5): stored sessions, finished ones included, riskiest first,
// searched by candidate, assessment, status and verdict through GET /session-reviews; and the
// session page's verdict form (POST /candidate-sessions/:id/review).

import { sessionPath } from "./api.js";
import { el, formatDateTime, formatRisk, sessionHref } from "./format.js";

const $ = (id) => document.getElementById(id);
const PAGE = 25;
const VERDICT_TEXT = { verified: "Verified", rejected: "Rejected", needs_review: "Needs review" };

export class ReviewQueue {
  constructor() {
    this.api = null;
    this.offset = 0;
    $("queue-filters").addEventListener("submit", (event) => {
      event.preventDefault();
      this.offset = 0;
      this.load();
    });
    $("queue-filters").addEventListener("reset", () => setTimeout(() => this.reload()));
    $("queue-prev").addEventListener("click", () => this.page(-PAGE));
    $("queue-next").addEventListener("click", () => this.page(PAGE));
  }

  /** The queue loads once the dashboard is signed in (showRoute), not on a token not yet taken. */
  attach(api) {
    this.api = api;
    this.offset = 0;
  }

  close() {
    this.api = null;
    $("queue-body").replaceChildren();
  }

  reload() {
    this.offset = 0;
    this.load();
  }

  page(delta) {
    this.offset = Math.max(0, this.offset + delta);
    this.load();
  }

  query() {
    const params = new URLSearchParams({ limit: String(PAGE), offset: String(this.offset) });
    const fields = {
      candidate: $("queue-candidate").value.trim(),
      assessmentId: $("queue-assessment").value.trim(),
      status: $("queue-status").value,
      verdict: $("queue-verdict").value,
    };
    for (const [key, value] of Object.entries(fields)) if (value) params.set(key, value);
    if ($("queue-finished").checked) params.set("finished", "true");
    return params;
  }

  async load() {
    if (!this.api) return;
    const status = $("queue-status-line");
    try {
      const queue = await this.api.json(`/session-reviews?${this.query()}`);
      $("queue-body").replaceChildren(...queue.items.map((item) => row(item)));
      $("queue-prev").disabled = this.offset === 0;
      $("queue-next").disabled = queue.nextOffset === null;
      const first = queue.items.length ? this.offset + 1 : 0;
      status.textContent = `Showing ${first}–${this.offset + queue.items.length}`;
    } catch (error) {
      status.textContent = `Could not load the queue: ${error.message}`;
    }
  }
}

function row(item) {
  const s = item.session;
  const verdict = item.review ? VERDICT_TEXT[item.review.status] : "Not reviewed";
  return el(
    "tr",
    { "data-session-id": s.id },
    el("td", {}, el("a", { href: sessionHref(s.id), text: s.candidateName })),
    el("td", { text: s.assessmentId }),
    el("td", { text: s.status }),
    el("td", { text: `${formatRisk(item.riskScore)} (${item.riskLevel})` }),
    el("td", { text: item.recommendation }),
    el("td", { text: verdict, className: "verdict-cell" }),
    el("td", { text: formatDateTime(s.endTime ?? s.startTime) }),
  );
}

/** The session page's verdict form: one decision per submit, every one kept by the server. */
export class VerdictForm {
  constructor() {
    this.api = null;
    this.sessionId = null;
    $("verdict-form").addEventListener("submit", (event) => {
      event.preventDefault();
      this.submit(event.submitter?.value ?? "needs_review");
    });
  }

  attach(api) {
    this.api = api;
  }

  async open(sessionId) {
    this.sessionId = sessionId;
    $("verdict-result").textContent = "";
    $("verdict-current").textContent = "";
    if (!this.api) return;
    try {
      const detail = await this.api.json(sessionPath(sessionId));
      this.show(detail.review, detail.recommendation);
    } catch (error) {
      $("verdict-current").textContent = `Could not read the verdict: ${error.message}`;
    }
  }

  show(review, recommendation) {
    const given = review
      ? `${VERDICT_TEXT[review.status]} by ${review.reviewer} at ${formatDateTime(review.at)}: ${review.reason}`
      : "No verdict yet.";
    $("verdict-current").textContent = `Recommended: ${recommendation ?? "?"}. ${given}`;
  }

  async submit(decision) {
    if (!this.api || !this.sessionId) return;
    const reason = $("verdict-reason").value.trim();
    if (!reason) {
      $("verdict-result").textContent = "Give a reason: it is kept with the decision.";
      return;
    }
    try {
      const answer = await this.api.post(sessionPath(this.sessionId, "/review"), {
        decision,
        reason,
      });
      this.show(answer.review, answer.recommendation);
      $("verdict-reason").value = "";
      $("verdict-result").textContent = `Saved: ${VERDICT_TEXT[answer.review.status]}.`;
    } catch (error) {
      $("verdict-result").textContent = `Not saved: ${error.message}`;
    }
  }
}
