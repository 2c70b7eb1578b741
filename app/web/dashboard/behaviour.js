// Issue 28: a session's behaviour evidence, from the report's `behaviour`: a small chart of the
// characters typed against pasted per question, and the behaviour findings, with the other
// session of a collaborating pair linked to its page.

import { el } from "./format.js";

const PARTS = [
  ["typed", "typed"],
  ["pasted", "pasted"],
  ["other", "other"],
];

/** Fill #session-behaviour from `report.behaviour`. */
export function showBehaviour(report) {
  const box = document.getElementById("session-behaviour");
  if (!box) return;
  const evidence = report.behaviour ?? { questions: [], findings: [] };
  const parts = [];
  if (evidence.questions.length) parts.push(chart(evidence.questions));
  parts.push(findings(evidence.findings));
  box.replaceChildren(...parts);
}

function chart(questions) {
  const most = Math.max(1, ...questions.map((q) => q.typed + q.pasted + q.other));
  const rows = questions.map((q) => {
    const bar = el("span", { class: "input-bar" },
      ...PARTS.filter(([key]) => q[key] > 0).map(([key, name]) => {
        const part = el("span", { class: `input-${key}`, title: `${q[key]} characters ${name}` });
        part.style.width = `${((100 * q[key]) / most).toFixed(1)}%`; // CSSOM: allowed by the CSP
        return part;
      }));
    const note = `${q.typed} typed · ${q.pasted} pasted` + (q.untrusted ? ` · ${q.untrusted} synthetic` : "");
    return el("li", { "data-question": q.questionId },
      el("span", { class: "input-question", text: q.questionId }), bar,
      el("span", { class: "input-note", text: note }));
  });
  return el("div", {},
    el("h4", { text: "Typing against pasting, per question" }),
    el("ul", { class: "input-chart", "aria-label": "characters typed and pasted per question" }, ...rows));
}

function findings(found) {
  if (!found.length) return el("p", { class: "none", text: "No behaviour finding." });
  return el("ul", { class: "behaviour-findings" }, ...found.map((f) => el("li", { "data-check": f.check },
    el("b", { text: f.factor }),
    el("span", { text: f.counted ? ` ${f.points} points` : " evidence only (the factor is off)" }),
    f.otherSessionId
      ? el("span", {}, " with ", el("a", { href: `#/session/${encodeURIComponent(f.otherSessionId)}`, class: "pair", text: f.otherSessionId }))
      : el("span"),
    el("div", { class: "rule", text: f.rule }),
  )));
}
