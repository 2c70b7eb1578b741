// Small shared helpers: building elements, formatting, and what kind of thing an event is.

import { EVENT_TYPES } from "../sdk/protocol.js";

/** An element with properties and children; text children become text nodes (never HTML). */
export function el(tag, props = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(props)) {
    if (value === undefined || value === null || value === false) continue;
    if (key === "class") node.className = value;
    else if (key === "text") node.textContent = value;
    else if (key.startsWith("data-") || key.startsWith("aria-") || key === "role") {
      node.setAttribute(key, value === true ? "" : String(value));
    } else node[key] = value;
  }
  for (const child of children.flat()) {
    if (child === null || child === undefined || child === false) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
}

export function sessionHref(sessionId) {
  return `#/session/${encodeURIComponent(sessionId)}`;
}

const TIME = new Intl.DateTimeFormat(undefined, {
  hour: "2-digit",
  minute: "2-digit",
  second: "2-digit",
});
const DATE_TIME = new Intl.DateTimeFormat(undefined, { dateStyle: "medium", timeStyle: "medium" });
const COUNT = new Intl.NumberFormat();

export function formatTime(iso) {
  if (!iso) return "—";
  const date = new Date(iso);
  return Number.isNaN(date.getTime()) ? iso : TIME.format(date);
}

export function formatDateTime(iso) {
  if (!iso) return "—";
  const date = new Date(iso);
  return Number.isNaN(date.getTime()) ? iso : DATE_TIME.format(date);
}

export function formatCount(n) {
  return COUNT.format(n);
}

export function formatRisk(score) {
  return typeof score === "number" ? score.toFixed(2) : "—";
}

/** "tab_switch_detected" -> "tab switch detected". */
export function eventLabel(type) {
  return String(type).replaceAll("_", " ");
}

/**
 * One of: warning (can cost the candidate points, or a suspicious finding of the server),
 * intervention, review, lifecycle, answer, routine (frequent, hidden unless asked for), info.
 * The kinds are the server's (actors/event_types.py); a type this page does not know is info.
 */
export function eventKind(type) {
  return Object.hasOwn(EVENT_TYPES, type) ? EVENT_TYPES[type].kind : "info";
}

/** Whether an event changes what the session's records or report show beyond its state. */
export function changesRecords(type) {
  return Object.hasOwn(EVENT_TYPES, type) && EVENT_TYPES[type].changesRecords;
}

function clip(text, limit = 140) {
  const s = String(text);
  return s.length > limit ? `${s.slice(0, limit - 1)}…` : s;
}

/** A one-line human summary of an event's data. */
export function eventDetail(event) {
  const data = event.data ?? {};
  switch (event.type) {
    case "focus_lost":
      return typeof data.durationMs === "number" ? `${(data.durationMs / 1000).toFixed(1)} s` : "";
    case "idle_detected":
      return typeof data.seconds === "number" ? `${data.seconds} s idle` : "";
    case "answer_submitted":
      return data.response === undefined
        ? ""
        : `answer: ${clip(JSON.stringify(data.response), 80)}`;
    case "intervention": {
      const said = data.message ? `: ${clip(data.message)}` : "";
      return `${data.action ?? "?"} by ${data.by ?? "?"}${said}`;
    }
    case "violation_reviewed":
      return `${data.decision === "dismiss" ? "dismissed" : "confirmed"} ${data.type ?? ""} by ${
        data.by ?? "?"
      }: ${clip(data.reason ?? "")}`;
    case "violation_reported":
      return `${data.type ?? ""} (${data.severity ?? ""})`;
    case "object_detected":
      return `${data.label ?? "object"}${
        typeof data.confidence === "number" ? ` ${(data.confidence * 100).toFixed(0)}%` : ""
      }`;
    case "ip_changed":
      return `${data.from ?? "?"} → ${data.to ?? "?"}`;
    case "alert_raised":
      return clip(data.message ?? data.rule ?? "");
    default:
      return Object.keys(data).length ? clip(JSON.stringify(data)) : "";
  }
}
