// The live table of sessions. Updates are coalesced per session and applied once per animation
// frame; only the rows in view exist in the DOM (a small pool, reused as the table scrolls), so
// thousands of sessions and hundreds of events a second cost a few milliseconds a frame.

import { el, eventLabel, formatCount, formatRisk, formatTime, sessionHref } from "./format.js";

export const ROW_HEIGHT = 40; // px: dashboard.css gives .session-row the same height
// Rows rendered beyond each edge of the viewport, so fast scrolling shows no gap.
const OVERSCAN = 6;
const FINISHED = new Set(["COMPLETED", "TERMINATED", "FAILED"]);
const TRUST_RANK = { LOW: 0, MEDIUM: 1, HIGH: 2 };
const COLLATOR = new Intl.Collator(undefined, { sensitivity: "base", numeric: true });

const text = (field) => (a, b) => COLLATOR.compare(a[field] ?? "", b[field] ?? "");
const number = (field) => (a, b) => a[field] - b[field];
// Risk first, then a low verification score, then many violations: who needs a look first.
const riskiness = (a, b) =>
  a.riskScore - b.riskScore ||
  b.verificationScore - a.verificationScore ||
  a.violationCount - b.violationCount;

export const COLUMNS = [
  { key: "candidate", label: "Candidate", first: "asc", compare: text("candidateName") },
  { key: "assessment", label: "Assessment", first: "asc", compare: text("assessmentId") },
  { key: "status", label: "Status", first: "asc", compare: text("status") },
  {
    key: "connected",
    label: "Connected",
    first: "desc",
    compare: (a, b) => Number(a.connected) - Number(b.connected),
  },
  {
    key: "verification",
    label: "Verification score",
    first: "asc",
    compare: number("verificationScore"),
  },
  {
    key: "trust",
    label: "Trust level",
    first: "asc",
    compare: (a, b) => TRUST_RANK[a.trustLevel] - TRUST_RANK[b.trustLevel],
  },
  { key: "risk", label: "Risk level", first: "desc", compare: riskiness },
  { key: "violations", label: "Violations", first: "desc", compare: number("violationCount") },
  { key: "lastEvent", label: "Last event", first: "desc", compare: text("lastEventAt") },
];

export class SessionTable {
  constructor({ table, scroller, summary, onAssessments }) {
    this.table = table;
    this.scroller = scroller;
    this.summary = summary;
    this.onAssessments = onAssessments;
    this.records = new Map(); // sessionId -> record (a SessionState plus lastEventType)
    this.pending = new Map(); // sessionId -> {state, eventType}: the newest only
    this.view = []; // the records that pass the filter, sorted; each knows its place (`at`)
    this.viewStale = true; // sort everything again at the next frame
    this.moved = new Set(); // sessionIds to take out of the view and put back in order
    this.assessments = new Set();
    this.assessmentsChanged = false;
    this.filter = { text: "", status: "", risk: "", assessment: "" };
    this.sort = { key: "risk", dir: "desc" };
    this.frame = 0;
    this.rows = [];
    this.stats = { updates: 0, frames: 0, lastFrameMs: 0, maxFrameMs: 0 };
    // Geometry is read when it changes (after layout, so reading is free) and never in a
    // frame's update: reading it there would force a second layout per frame.
    this.viewport = { top: 0, height: 0, header: 0 };
    this.build();
    scroller.addEventListener(
      "scroll",
      () => {
        this.viewport.top = scroller.scrollTop;
        this.schedule();
      },
      { passive: true },
    );
    const measure = new ResizeObserver(() => {
      this.viewport.height = scroller.clientHeight;
      this.viewport.header = this.thead.offsetHeight;
      this.schedule();
    });
    measure.observe(scroller);
    measure.observe(this.thead);
  }

  build() {
    const headRow = el("tr", { "aria-rowindex": 1 });
    this.headers = new Map();
    for (const column of COLUMNS) {
      const button = el("button", { type: "button", class: "sort", "data-sort": column.key });
      button.append(column.label, el("span", { class: "sort-mark", "aria-hidden": "true" }));
      button.addEventListener("click", () => this.sortBy(column.key));
      const th = el("th", { scope: "col", "data-column": column.key }, button);
      this.headers.set(column.key, th);
      headRow.append(th);
    }
    this.thead = el("thead", {}, headRow);
    const spacer = () =>
      el("tr", { class: "spacer", "aria-hidden": "true" }, el("td", { colSpan: COLUMNS.length }));
    this.topSpacer = spacer();
    this.bottomSpacer = spacer();
    this.tbody = el("tbody", {}, this.topSpacer, this.bottomSpacer);
    this.table.replaceChildren(this.thead, this.tbody);
    this.showSort();
  }

  /** A live change: kept until the next frame, when only the newest per session is applied. */
  update(state, eventType) {
    const previous = this.pending.get(state.sessionId);
    this.pending.set(state.sessionId, { state, eventType: eventType ?? previous?.eventType });
    this.schedule();
  }

  /** A fresh `sessions` snapshot (on sign-in, and after every reconnect): it holds every
   * unfinished session, so an unfinished one it lacks was finished or erased meanwhile. */
  snapshot(states) {
    const fresh = new Set(states.map((state) => state.sessionId));
    for (const [id, record] of this.records) {
      if (!fresh.has(id) && !FINISHED.has(record.status)) {
        this.records.delete(id);
        this.viewStale = true;
      }
    }
    for (const state of states) this.update(state);
    this.schedule();
  }

  /** Forget every session (signing out). */
  clear() {
    this.records = new Map();
    this.pending = new Map();
    this.assessments = new Set();
    this.assessmentsChanged = true;
    this.viewStale = true;
    this.schedule();
  }

  get(sessionId) {
    return this.records.get(sessionId) ?? this.pending.get(sessionId)?.state;
  }

  setFilter(filter) {
    this.filter = { ...this.filter, ...filter };
    this.filter.text = this.filter.text.trim().toLowerCase();
    this.viewStale = true;
    this.scroller.scrollTop = 0;
    this.viewport.top = 0;
    this.schedule();
  }

  sortBy(key) {
    const column = COLUMNS.find((c) => c.key === key);
    const dir =
      this.sort.key === key ? (this.sort.dir === "asc" ? "desc" : "asc") : column.first;
    this.sort = { key, dir };
    this.viewStale = true;
    this.showSort();
    this.schedule();
  }

  showSort() {
    for (const [key, th] of this.headers) {
      const sorted = key === this.sort.key;
      const up = this.sort.dir === "asc";
      th.setAttribute("aria-sort", sorted ? (up ? "ascending" : "descending") : "none");
      th.querySelector(".sort-mark").textContent = sorted ? (up ? "▲" : "▼") : "";
    }
  }

  schedule() {
    if (!this.frame) this.frame = requestAnimationFrame(() => this.flush());
  }

  flush() {
    this.frame = 0;
    const started = performance.now();
    const compare = this.comparator();
    for (const [id, change] of this.pending) this.apply(id, change, compare);
    this.stats.updates += this.pending.size;
    this.pending.clear();
    if (this.viewStale || this.moved.size > this.records.size / 4) this.rebuildView(compare);
    else if (this.moved.size) this.placeView(compare);
    this.render();
    if (this.assessmentsChanged) {
      this.assessmentsChanged = false;
      this.onAssessments([...this.assessments].sort(COLLATOR.compare));
    }
    const took = performance.now() - started;
    this.stats.frames += 1;
    this.stats.lastFrameMs = took;
    this.stats.maxFrameMs = Math.max(this.stats.maxFrameMs, took);
    this.publishStats();
  }

  apply(id, { state, eventType }, compare) {
    const old = this.records.get(id);
    if (old && state.lastOffset < old.lastOffset) return; // older than what is shown
    const record = {
      ...state,
      lastEventType: state.lastEventType ?? eventType ?? old?.lastEventType,
      haystack: `${state.candidateName}\n${state.assessmentId}\n${state.sessionId}`.toLowerCase(),
      at: old?.at ?? -1,
    };
    this.records.set(id, record);
    if (!this.assessments.has(state.assessmentId)) {
      this.assessments.add(state.assessmentId);
      this.assessmentsChanged = true;
    }
    if (this.viewStale) return;
    if (record.at >= 0) this.view[record.at] = record;
    // Most changes (a heartbeat, an answer) leave the order as it was: then only the row's
    // contents change. The others are taken out and merged back in (placeView).
    const passes = this.passes(record);
    if (record.at < 0) {
      if (passes) this.moved.add(id);
      return;
    }
    const before = this.view[record.at - 1];
    const after = this.view[record.at + 1];
    const outOfOrder =
      (before && compare(before, record) > 0) || (after && compare(record, after) > 0);
    if (!passes || outOfOrder) {
      this.moved.add(id);
    }
  }

  comparator() {
    const column = COLUMNS.find((c) => c.key === this.sort.key);
    const sign = this.sort.dir === "asc" ? 1 : -1;
    // Ties broken by id, so equal rows keep their places from frame to frame.
    const byId = (a, b) => (a.sessionId < b.sessionId ? -1 : a.sessionId > b.sessionId ? 1 : 0);
    return (a, b) => sign * column.compare(a, b) || byId(a, b);
  }

  passes(record) {
    const f = this.filter;
    return (
      (!f.status || record.status === f.status) &&
      (!f.risk || record.riskLevel === f.risk) &&
      (!f.assessment || record.assessmentId === f.assessment) &&
      (!f.text || record.haystack.includes(f.text))
    );
  }

  rebuildView(compare) {
    this.view = [];
    for (const record of this.records.values()) {
      record.at = -1;
      if (this.passes(record)) this.view.push(record);
    }
    this.view.sort(compare);
    this.placed();
  }

  /** Take the moved records out, sort them alone and merge them back: O(n + k log k). */
  placeView(compare) {
    const movers = [];
    for (const id of this.moved) {
      const record = this.records.get(id);
      record.at = -1;
      if (this.passes(record)) movers.push(record);
    }
    movers.sort(compare);
    const kept = this.view.filter((record) => !this.moved.has(record.sessionId));
    const merged = new Array(kept.length + movers.length);
    let i = 0;
    let j = 0;
    for (let k = 0; k < merged.length; k++) {
      const fromKept = j >= movers.length || (i < kept.length && compare(kept[i], movers[j]) <= 0);
      merged[k] = fromKept ? kept[i++] : movers[j++];
    }
    this.view = merged;
    this.placed();
  }

  placed() {
    for (let i = 0; i < this.view.length; i++) this.view[i].at = i;
    this.moved.clear();
    this.viewStale = false;
  }

  render() {
    const total = this.view.length;
    const { top, height, header } = this.viewport;
    const first = Math.min(Math.max(0, Math.floor((top - header) / ROW_HEIGHT) - OVERSCAN), total);
    const wanted = Math.ceil(height / ROW_HEIGHT) + 2 * OVERSCAN;
    const last = Math.min(total, first + wanted);
    this.topSpacer.style.height = `${first * ROW_HEIGHT}px`;
    this.bottomSpacer.style.height = `${(total - last) * ROW_HEIGHT}px`;
    while (this.rows.length < last - first) {
      const row = new Row();
      this.rows.push(row);
      this.tbody.insertBefore(row.tr, this.bottomSpacer);
    }
    for (let j = 0; j < this.rows.length; j++) {
      this.rows[j].show(first + j < last ? this.view[first + j] : null, first + j);
    }
    this.table.setAttribute("aria-rowcount", String(total + 1));
    this.summary.textContent =
      total === this.records.size
        ? `${formatCount(total)} sessions`
        : `Showing ${formatCount(total)} of ${formatCount(this.records.size)} sessions`;
    this.table.dataset.empty = String(total === 0);
  }

  publishStats() {
    // For people watching performance (and the browser tests): what the table did.
    const data = this.table.dataset;
    data.total = String(this.records.size);
    data.shown = String(this.view.length);
    data.updates = String(this.stats.updates);
    data.frames = String(this.stats.frames);
    data.lastFrameMs = this.stats.lastFrameMs.toFixed(2);
    data.maxFrameMs = this.stats.maxFrameMs.toFixed(2);
  }
}

class Row {
  constructor() {
    this.record = null;
    this.index = -1;
    this.link = el("a");
    this.cells = {};
    this.tr = el("tr", { class: "session-row" });
    this.tr.append(el("th", { scope: "row", "data-column": "candidate" }, this.link));
    for (const key of COLUMNS.slice(1).map((c) => c.key)) {
      this.cells[key] = el("td", { "data-column": key });
      this.tr.append(this.cells[key]);
    }
    this.badges = {
      status: el("span", { class: "badge" }),
      trust: el("span", { class: "badge" }),
      risk: el("span", { class: "badge" }),
    };
    this.cells.status.append(this.badges.status);
    this.cells.trust.append(this.badges.trust);
    this.cells.risk.append(this.badges.risk);
  }

  show(record, index) {
    if (record === null) {
      this.tr.hidden = true;
      this.record = null;
      return;
    }
    this.tr.hidden = false;
    if (record === this.record && index === this.index) return; // unchanged: touch nothing
    this.record = record;
    this.index = index;
    const r = record;
    this.tr.setAttribute("aria-rowindex", String(index + 2));
    this.tr.dataset.sessionId = r.sessionId;
    const risky = r.riskLevel === "high" || r.riskLevel === "critical" || r.trustLevel === "LOW";
    this.tr.classList.toggle("risky", risky);
    this.link.href = sessionHref(r.sessionId);
    this.link.textContent = r.candidateName || r.sessionId;
    this.link.title = `Session ${r.sessionId}`;
    this.cells.assessment.textContent = r.assessmentId;
    this.badges.status.textContent = r.status;
    this.badges.status.className = `badge status-${r.status.toLowerCase()}`;
    this.cells.connected.textContent = r.connected ? "● online" : "○ offline";
    this.cells.connected.className = r.connected ? "online" : "offline";
    this.cells.verification.textContent = String(r.verificationScore);
    this.badges.trust.textContent = r.trustLevel;
    this.badges.trust.className = `badge trust-${r.trustLevel.toLowerCase()}`;
    this.badges.risk.textContent = `${r.riskLevel} ${formatRisk(r.riskScore)}`;
    this.badges.risk.className = `badge risk-${r.riskLevel}`;
    this.cells.violations.textContent = String(r.violationCount);
    this.cells.lastEvent.textContent = r.lastEventAt
      ? `${r.lastEventType ? `${eventLabel(r.lastEventType)} · ` : ""}${formatTime(r.lastEventAt)}`
      : "—";
  }
}
