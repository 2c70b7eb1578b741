// The Vigil demo assessment: a few questions taken with the candidate SDK, the webcam on, and
// the proctor's warnings, pauses and termination shown as a candidate would see them.
// The session is kept in sessionStorage, so a reload of this tab continues where it was.

import { connect } from "/sdk/vigil-client.js";

const SAVED_KEY = "vigil-demo-session";
const STATUS_TEXT = {
  idle: "Not connected",
  connecting: "Connecting…",
  connected: "Connected",
  offline: "Offline, retrying",
  reconnecting: "Reconnecting…",
  replaced: "Opened in another tab",
  rejected: "Not allowed by the server",
  erased: "Session erased",
  failed: "Session failed on the server",
  terminated: "Ended by the proctor",
  closed: "Finished",
};

const $ = (id) => document.getElementById(id);
const view = {
  welcome: $("welcome"),
  check: $("check-view"),
  question: $("question-view"),
  done: $("done"),
};

let client = null;
let session = null; // {sessionId, candidateToken, title, questions, index}
let shownAt = 0; // when the current question appeared (performance.now())
let framesTimer = 0;

function show(name) {
  for (const [key, element] of Object.entries(view)) element.hidden = key !== name;
}

function save() {
  sessionStorage.setItem(SAVED_KEY, JSON.stringify(session));
}

function forget() {
  sessionStorage.removeItem(SAVED_KEY);
}

function saved() {
  try {
    return JSON.parse(sessionStorage.getItem(SAVED_KEY) || "null");
  } catch {
    return null;
  }
}

// --- starting ------------------------------------------------------------------------------

async function onStart(event) {
  event.preventDefault();
  const button = $("start");
  const error = $("start-error");
  const name = $("candidate-name").value.trim();
  error.hidden = true;
  button.disabled = true;
  try {
    const response = await fetch("/demo/sessions", {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify(name ? { candidateName: name } : {}),
    });
    const body = await response.json().catch(() => ({}));
    if (response.status !== 201) {
      throw new Error(body.error?.message || `the server answered ${response.status}`);
    }
    session = { ...body, index: 0 };
    save();
    begin(true);
  } catch (failure) {
    error.textContent = `Could not start: ${failure.message}`;
    error.hidden = false;
    button.disabled = false;
  }
}

function begin(isNew) {
  client = connect({
    url: location.origin,
    sessionId: session.sessionId,
    token: session.candidateToken,
    video: $("selfview"),
    blockContextMenu: true,
    onStatus: showStatus,
    onPending: showPending,
    onWarning: showWarning,
    onPause: showPause,
    onResume: hidePause,
    onClock: showClock,
    onTerminate: onTerminated,
    onError: onClientError,
  });
  $("selfview").addEventListener("playing", () => {
    $("camera-state").textContent = "Camera on";
  }, { once: true });
  clearInterval(framesTimer);
  framesTimer = setInterval(showFrames, 1000);
  if (isNew) runCheck();
  else showQuestion(session.index);
}

// --- the system check before the exam ------------------------------------------------------

function askConsent(text) {
  $("consent-text").textContent = text;
  $("consent-box").hidden = false;
  $("check-consent").textContent = "please read and answer below";
  return new Promise((resolve) => {
    const answer = (accepted) => () => {
      $("consent-box").hidden = true;
      resolve(accepted);
    };
    $("consent-yes").onclick = answer(true);
    $("consent-no").onclick = answer(false);
  });
}

async function runCheck() {
  show("check");
  $("check-again").hidden = $("check-start").hidden = true;
  $("check-result").textContent = "";
  $("check-permissions").textContent = "checking…";
  $("check-calibration").textContent = "waiting…";
  $("check-consent").textContent = "waiting…";
  try {
    const result = await client.check({ consent: askConsent });
    $("check-permissions").textContent = `camera ${result.camera}, microphone ${result.microphone}`;
    $("check-calibration").textContent = result.calibration
      ? result.calibration.advice
      : result.camera === "granted"
        ? "not needed: this server does not analyse the camera"
        : "no picture: the camera is not available";
    $("check-consent").textContent = result.consent?.accepted ? "given" : "not given";
    $("check-result").textContent = result.passed
      ? "All set. You can start."
      : "Something needs fixing (see above). Check again, or start anyway: the proctor will see it.";
    $("check-again").hidden = result.passed;
    $("check-start").hidden = false;
  } catch (failure) {
    $("check-result").textContent = `The check could not finish: ${failure.message}`;
    $("check-again").hidden = false;
  }
}

function startAssessment() {
  client.start().catch(onClientError);
  showQuestion(session.index);
}

// --- questions -----------------------------------------------------------------------------

function showQuestion(index) {
  const question = session.questions[index];
  const last = index === session.questions.length - 1;
  $("progress").textContent = `Question ${index + 1} of ${session.questions.length}`;
  $("question-text").textContent = question.text;
  $("answer-error").hidden = true;
  $("next").textContent = last ? "Submit the assessment" : "Next question";
  $("next").disabled = false;

  const list = $("choice-list");
  list.replaceChildren();
  const hasChoices = Array.isArray(question.choices);
  $("choices").hidden = !hasChoices;
  $("free-answer").hidden = hasChoices;
  if (hasChoices) {
    question.choices.forEach((choice, position) => {
      const label = document.createElement("label");
      label.className = "choice";
      const input = document.createElement("input");
      input.type = "radio";
      input.name = "choice";
      input.value = choice;
      input.id = `choice-${position}`;
      label.append(input, document.createTextNode(choice));
      list.append(label);
    });
  } else {
    $("free-text").value = "";
  }
  show("question");
  $("question-text").focus();
  shownAt = performance.now();
  client.viewQuestion(question.id).catch(onClientError);
}

function currentResponse(question) {
  if (Array.isArray(question.choices)) {
    return document.querySelector('input[name="choice"]:checked')?.value ?? null;
  }
  const text = $("free-text").value.trim();
  if (text === "") return null;
  const number = Number(text);
  return Number.isFinite(number) ? number : text; // "144" is sent as the number 144
}

async function onAnswer(event) {
  event.preventDefault();
  if (client === null || client.paused) return;
  const question = session.questions[session.index];
  const response = currentResponse(question);
  if (response === null) {
    $("answer-error").textContent = Array.isArray(question.choices)
      ? "Choose one of the answers."
      : "Type an answer first.";
    $("answer-error").hidden = false;
    return;
  }
  const seconds = Math.round((performance.now() - shownAt) / 100) / 10;
  client.answer(question.id, response, seconds).catch(onClientError);
  if (session.index + 1 < session.questions.length) {
    session.index += 1;
    save();
    showQuestion(session.index);
  } else {
    await finish();
  }
}

async function finish() {
  $("next").disabled = true;
  forget();
  finished("Submitting…");
  try {
    await client.submit();
    await client.flush(15000);
    finished("Your answers are submitted and every event reached the server. "
      + "A proctor could now read the session's report.");
    client.close();
  } catch {
    // The SDK keeps the events and sends them when the connection is back.
    finished("Your answers are saved in this browser and will reach the server as soon as "
      + "the connection is back. Keep this tab open until the status says 0 events waiting.");
    client.flush().then(() => client.close(), () => {});
  }
}

function finished(message) {
  $("done-message").textContent = message;
  if (view.done.hidden) {
    show("done");
    $("done-title").focus();
  }
}

function restart() {
  client?.close();
  client = null;
  forget();
  clearInterval(framesTimer);
  hidePause();
  $("warning").hidden = true;
  $("start").disabled = false;
  show("welcome");
  $("candidate-name").focus();
}

// --- what the SDK reports ------------------------------------------------------------------

function showStatus(status, detail) {
  const text = $("status-text");
  let label = STATUS_TEXT[status] || status;
  if (status === "offline" && detail.retryInMs) {
    label = `Offline, retrying in ${Math.ceil(detail.retryInMs / 1000)} s`;
  }
  text.textContent = label;
  text.dataset.status = status;
  $("status-dot").dataset.status = status;
  $("retry").hidden = status !== "offline";
  if (status === "replaced") {
    finished("This assessment is now open in another tab or device; continue there.");
  } else if (status === "rejected" || status === "erased" || status === "failed") {
    forget();
    finished(`${label}. This session cannot continue; start a new one.`);
  }
}

function showPending(count) {
  $("pending-count").textContent = String(count);
  $("pending-label").textContent = count === 1
    ? "event waiting for the server"
    : "events waiting for the server";
}

function showFrames() {
  if (client === null) return;
  $("frames-sent").textContent = String(client.stats.framesSent);
  $("frames-dropped").textContent = String(client.stats.framesDropped);
}

function showWarning({ message, warningsLeft }) {
  $("warning-message").textContent = message;
  let left = "";
  if (Number.isInteger(warningsLeft)) {
    left = warningsLeft === 0
      ? "This was your last warning."
      : `${warningsLeft} ${warningsLeft === 1 ? "warning" : "warnings"} left.`;
  }
  const leftElement = $("warning-left");
  leftElement.textContent = left;
  leftElement.dataset.warningsLeft = Number.isInteger(warningsLeft) ? String(warningsLeft) : "";
  $("warning").hidden = false;
}

function showPause({ message }) {
  $("pause-message").textContent = message || "A proctor paused the assessment.";
  $("pause-overlay").hidden = false;
  $("main").inert = true; // nothing behind the overlay can be reached, by mouse or keyboard
  $("pause-overlay").querySelector(".overlay-box").focus();
}

function hidePause() {
  const wasPaused = !$("pause-overlay").hidden;
  $("pause-overlay").hidden = true;
  $("main").inert = false;
  if (wasPaused && !view.question.hidden) $("question-text").focus();
}

function onTerminated({ reason }) {
  hidePause();
  forget();
  finished(`The proctor ended this assessment: ${reason}`);
}

function onClientError(error) {
  if (error.code === "camera_unavailable") {
    $("camera-state").textContent = `Camera unavailable (${error.message})`;
  } else if (error.code === "camera_ended") {
    $("camera-state").textContent = "Camera stopped";
  }
  console.warn("Vigil:", error.code || "", error.message || error);
}

// --- wiring --------------------------------------------------------------------------------

$("start-form").addEventListener("submit", onStart);
$("check-again").addEventListener("click", runCheck);
$("check-start").addEventListener("click", startAssessment);
$("answer-form").addEventListener("submit", onAnswer);
$("warning-dismiss").addEventListener("click", () => {
  $("warning").hidden = true;
});
$("retry").addEventListener("click", () => client?.reconnectNow());
$("restart").addEventListener("click", restart);

session = saved();
if (session && Array.isArray(session.questions)) {
  begin(false);
} else {
  session = null;
  show("welcome");
}

// --- exam control: the time left (the server's clock) and the acknowledged pause ------------

function showClock({ secondsLeft, timeUp, paused }) {
  const element = $("time-left");
  const minutes = Math.floor(secondsLeft / 60);
  const seconds = String(secondsLeft % 60).padStart(2, "0");
  const left = `Time left ${minutes}:${seconds}`;
  element.textContent = timeUp ? "Time is up" : paused ? `${left} (paused)` : left;
  element.dataset.secondsLeft = String(secondsLeft);
  element.hidden = false;
}

$("pause-acknowledge").addEventListener("click", () => {
  client?.acknowledgePause().catch(onClientError);
});

