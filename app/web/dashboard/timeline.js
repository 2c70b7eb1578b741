// A session's event timeline, newest first: the stored history merged with live events by
// offset (each at most once), warnings, interventions and reviews highlighted.

import { el, eventDetail, eventKind, eventLabel, formatCount, formatTime } from "./format.js";

const MAX_SHOWN = 300; // items in the DOM; the full log is the CSV download
const MAX_KEPT = 5000; // events in memory: a long session with webcam frames has thousands

const KIND_NAMES = {
  warning: "Warning",
  intervention: "Intervention",
  review: "Review",
  lifecycle: "Lifecycle",
  answer: "Answer",
  routine: "Routine",
  info: "Event",
};

export class Timeline {
  constructor({ list, note, warningsOnly, showRoutine }) {
    this.list = list;
    this.note = note;
    this.warningsOnly = warningsOnly;
    this.showRoutine = showRoutine;
    this.events = new Map(); // offset -> event
    this.violationOffsets = new Set(); // events that produced a violation, whatever their type
    this.frame = 0;
    warningsOnly.addEventListener("change", () => this.render());
    showRoutine.addEventListener("change", () => this.render());
  }

  clear() {
    this.events = new Map();
    this.violationOffsets = new Set();
    this.list.replaceChildren();
    this.note.textContent = "Loading…";
  }

  /** The stored history; live events already received are kept. */
  merge(events) {
    for (const event of events) {
      if (!this.events.has(event.offset)) this.events.set(event.offset, event);
    }
    this.bound();
    this.schedule();
  }

  add(event) {
    this.events.set(event.offset, event);
    if (this.events.size > MAX_KEPT * 1.1) this.bound(); // now and then, not per event
    this.schedule();
  }

  bound() {
    if (this.events.size <= MAX_KEPT) return;
    const offsets = [...this.events.keys()].sort((a, b) => a - b);
    for (const offset of offsets.slice(0, offsets.length - MAX_KEPT)) this.events.delete(offset);
  }

  markViolations(offsets) {
    this.violationOffsets = new Set(offsets);
    this.schedule();
  }

  kindOf(event) {
    const kind = eventKind(event.type);
    return this.violationOffsets.has(event.offset) && kind !== "intervention" ? "warning" : kind;
  }

  schedule() {
    if (!this.frame) {
      this.frame = requestAnimationFrame(() => {
        this.frame = 0;
        this.render();
      });
    }
  }

  render() {
    const warningsOnly = this.warningsOnly.checked;
    const showRoutine = this.showRoutine.checked;
    const offsets = [...this.events.keys()].sort((a, b) => b - a);
    const items = [];
    let matching = 0;
    for (const offset of offsets) {
      const event = this.events.get(offset);
      const kind = this.kindOf(event);
      const marked = kind === "warning" || kind === "intervention" || kind === "review";
      if (warningsOnly && !marked) continue;
      if (!showRoutine && kind === "routine") continue;
      matching += 1;
      if (items.length < MAX_SHOWN) items.push(this.item(event, kind));
    }
    this.list.replaceChildren(...items);
    const hidden = matching - items.length;
    const total = this.events.size;
    this.note.textContent =
      `${formatCount(total)} events${total >= MAX_KEPT ? " (the newest kept)" : ""}` +
      (hidden > 0 ? `; the newest ${MAX_SHOWN} shown (download the CSV for all)` : "") +
      (matching !== total ? `; ${formatCount(total - matching)} hidden by the filters` : "");
  }

  item(event, kind) {
    const marked = kind === "warning" || kind === "intervention" || kind === "review";
    return el(
      "li",
      { class: `event kind-${kind}`, "data-offset": event.offset, "data-type": event.type },
      el("span", { class: "event-offset", text: `#${event.offset}` }),
      el("time", { dateTime: event.ts, text: formatTime(event.ts) }),
      el(
        "span",
        { class: "event-type" },
        marked ? el("span", { class: "event-kind", text: `${KIND_NAMES[kind]}: ` }) : null,
        eventLabel(event.type),
      ),
      el("span", { class: "event-question", text: event.questionId ?? "" }),
      el("span", { class: "event-detail", text: eventDetail(event) }),
      // The socket leaves out the default origin.
      el("span", { class: "event-origin", text: event.origin ?? "candidate" }),
    );
  }
}
