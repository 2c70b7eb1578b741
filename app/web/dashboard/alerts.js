// The alerts feed: newest first, bounded in memory and in the DOM, added once per frame.

import { el, formatCount, formatTime, sessionHref } from "./format.js";

const SEVERITIES = new Set(["low", "medium", "high", "critical"]);

export function alertItem(alert, candidateName) {
  const severity = SEVERITIES.has(alert.severity) ? alert.severity : "high";
  return el(
    "li",
    { class: `alert sev-${severity}`, "data-session-id": alert.sessionId },
    el("span", { class: `badge sev-${severity}`, text: severity }),
    " ",
    el("time", { dateTime: alert.event?.ts ?? "", text: formatTime(alert.event?.ts) }),
    " ",
    el("a", { href: sessionHref(alert.sessionId), text: candidateName || alert.sessionId }),
    " ",
    el("span", { class: "alert-message", text: alert.message }),
  );
}

export class AlertsFeed {
  /** nameOf(sessionId): the candidate's name, if the table knows it. */
  constructor({ list, count, nameOf, limit = 200 }) {
    this.list = list;
    this.count = count;
    this.nameOf = nameOf;
    this.limit = limit;
    this.total = 0;
    this.pending = [];
    this.frame = 0;
  }

  clear() {
    this.total = 0;
    this.pending = [];
    this.list.replaceChildren();
    this.count.textContent = "None since you signed in";
  }

  add(alert) {
    this.total += 1;
    this.pending.push(alert);
    // Bound what waits, too: a hidden tab gets no frames, and only the newest would be shown.
    if (this.pending.length > this.limit) this.pending.splice(0, this.pending.length - this.limit);
    if (!this.frame) this.frame = requestAnimationFrame(() => this.flush());
  }

  flush() {
    this.frame = 0;
    const fragment = document.createDocumentFragment();
    for (let i = this.pending.length - 1; i >= 0; i--) {
      const alert = this.pending[i];
      fragment.append(alertItem(alert, this.nameOf(alert.sessionId)));
    }
    this.pending = [];
    this.list.prepend(fragment);
    while (this.list.childElementCount > this.limit) this.list.lastElementChild.remove();
    this.count.textContent =
      this.total > this.limit
        ? `${formatCount(this.total)} since you signed in (the newest ${this.limit} shown)`
        : `${formatCount(this.total)} since you signed in`;
  }
}
