// Issue 24: the session's screen recording and audio clips, from the report's signed links (a
// <video> or <audio> cannot send the admin token), and buttons that seek the recording to the
// moment of each violation.

import { el, formatTime } from "./format.js";

/** Fill #session-media from `report.detailedFindings` and the session's violations. */
export function showMedia(report, violations) {
  const box = document.getElementById("session-media");
  if (!box) return;
  const findings = report.detailedFindings ?? {};
  const parts = [];
  const screen = findings.screenRecording;
  if (screen) parts.push(...screenPart(screen, violations));
  const episodes = findings.audioEpisodes ?? [];
  if (episodes.length) {
    parts.push(
      el("h4", { text: "Audio episodes" }),
      el("ul", { class: "clips" }, ...episodes.map(clipItem)),
    );
  }
  if (!parts.length) parts.push(el("p", { class: "none", text: "No recording, no audio episode." }));
  box.replaceChildren(...parts);
}

function screenPart(screen, violations) {
  const video = el("video", {
    controls: true,
    preload: "metadata",
    src: screen.video,
    poster: screen.thumbnail ?? undefined,
    width: 480,
    "aria-label": "Screen recording",
  });
  const start = Date.parse(screen.recordingStartTime);
  const end = Date.parse(screen.recordingEndTime);
  const during = violations.filter((v) => {
    const at = Date.parse(v.timestamp);
    return Number.isFinite(at) && at >= start && at <= end + 10000;
  });
  const jumps = during.map((v) =>
    el(
      "li",
      {},
      el("button", {
        type: "button",
        text: `${v.type} at ${formatTime(v.timestamp)}`,
        onclick: () => {
          video.currentTime = Math.max(0, (Date.parse(v.timestamp) - start) / 1000 - 2);
          video.play().catch(() => {});
        },
      }),
    ),
  );
  const status = `${screen.uploadStatus ?? "?"}, ${Math.round((screen.fileSize ?? 0) / 1024)} KiB`;
  return [
    el("h4", { text: `Screen recording (${status})` }),
    video,
    jumps.length ? el("ul", { class: "jumps" }, ...jumps) : el("p", { class: "muted", text: "No violation while it recorded." }),
  ];
}

function clipItem(episode) {
  const text = `${formatTime(episode.start)}: ${Math.round(episode.durationMs / 100) / 10} s, ` +
    `peak ${episode.peakDbfs} dBFS`;
  return el(
    "li",
    {},
    el("span", { text }),
    episode.clip ? el("audio", { controls: true, preload: "none", src: episode.clip }) : null,
  );
}
