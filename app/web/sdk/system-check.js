/**
 * The system check before the exam (document 002's permission check, calibration and consent),
 * run by `vigil.check()` of vigil-client.js. Each step's result is recorded as an event:
 *
 *   1. `permission_checked` {camera, microphone}: "granted", "denied" or "unavailable"; a camera
 *      that is not granted is also `camera_lost` (the server raises CAMERA_OFF where the
 *      assessment requires the camera and no frame comes).
 *   2. a calibration frame from the webcam, analysed by the server where its vision runs
 *      (`POST /candidate-sessions/:id/calibration`, stored as `calibration_checked`): one face,
 *      usable light, and advice to show when not.
 *   3. `consent_given` {accepted, textSha256}: the candidate's answer to the server's consent
 *      text (`GET /candidate-sessions/:id/system-check`, from `[candidate] consent_text`).
 *
 * `consent` is how the page asks: a function given the text that resolves to true or false (a
 * dialog the page shows), or `true` when the page has already shown the text and the candidate
 * agreed. No network request carries the token in its URL: it goes in the Authorization header.
 */

const CALIBRATION_WIDTH = 640;
const CALIBRATION_HEIGHT = 480;

/**
 * @param {import("./vigil-client.js").VigilClient} client
 * @param {{consent?: boolean | ((text: string) => boolean | Promise<boolean>),
 *          video?: HTMLVideoElement, calibrate?: boolean}} [options]
 * @returns {Promise<{passed: boolean, camera: string, microphone: string,
 *   calibration: object | null, consent: {accepted: boolean, text: string} | null}>}
 */
export async function runSystemCheck(client, options = {}) {
  const camera = await ask({ video: { width: { ideal: CALIBRATION_WIDTH }, height: { ideal: CALIBRATION_HEIGHT } } });
  const microphone = await ask({ audio: true });
  microphone.stream?.getTracks().forEach((track) => track.stop());
  await client.track("permission_checked", { camera: camera.state, microphone: microphone.state }, null);
  if (camera.state !== "granted") {
    const reason = camera.state === "denied" ? "denied" : "unavailable";
    await client.track("camera_lost", { reason, detail: camera.detail }, null);
  }

  const info = await request(client, "GET", "/system-check");
  let calibration = null;
  if (camera.stream) {
    try {
      if (options.calibrate !== false && info.calibration) {
        calibration = await calibrate(client, camera.stream, options.video).catch((error) => ({
          passed: false,
          error: error.code || "calibration_failed",
          advice: `The server could not look at the picture: ${error.message}`,
        }));
      }
    } finally {
      if (!options.video) camera.stream.getTracks().forEach((track) => track.stop());
    }
  }

  const text = info.consentText;
  let accepted = false;
  if (typeof options.consent === "function") accepted = Boolean(await options.consent(text));
  else accepted = options.consent === true;
  await client.track("consent_given", { accepted, textSha256: info.consentSha256 }, null);

  return {
    // Without vision on the server there is no calibration to pass.
    passed: camera.state === "granted" && (!info.calibration || Boolean(calibration?.passed)) && accepted,
    camera: camera.state,
    microphone: microphone.state,
    calibration,
    consent: { accepted, text },
  };
}

/** getUserMedia for one kind of device: its state, and the stream when granted. */
async function ask(constraints) {
  if (!globalThis.navigator?.mediaDevices?.getUserMedia) {
    return { state: "unavailable", stream: null, detail: "this browser has no getUserMedia" };
  }
  try {
    return { state: "granted", stream: await navigator.mediaDevices.getUserMedia(constraints), detail: null };
  } catch (error) {
    const denied = error?.name === "NotAllowedError" || error?.name === "SecurityError";
    const detail = String(error?.name || error).slice(0, 200);
    return { state: denied ? "denied" : "unavailable", stream: null, detail };
  }
}

/** One frame of `stream`, as a JPEG the server analyses; its answer. */
async function calibrate(client, stream, shown) {
  const video = shown || document.createElement("video");
  video.muted = true;
  video.playsInline = true;
  video.srcObject = stream;
  await video.play().catch(() => {});
  if (video.readyState < 2) {
    await new Promise((resolve) => video.addEventListener("loadeddata", resolve, { once: true }));
  }
  // A camera's first frames are often dark while it adjusts its exposure.
  await new Promise((resolve) => setTimeout(resolve, 500));
  const scale = Math.min(1, CALIBRATION_WIDTH / video.videoWidth, CALIBRATION_HEIGHT / video.videoHeight);
  const canvas = document.createElement("canvas");
  canvas.width = Math.max(1, Math.round(video.videoWidth * scale));
  canvas.height = Math.max(1, Math.round(video.videoHeight * scale));
  canvas.getContext("2d").drawImage(video, 0, 0, canvas.width, canvas.height);
  const jpeg = await new Promise((resolve) => canvas.toBlob(resolve, "image/jpeg", 0.85));
  return request(client, "POST", "/calibration", jpeg, "image/jpeg");
}

async function request(client, method, path, body, contentType) {
  const base = new URL(client.options.url || globalThis.location.origin);
  if (base.protocol === "ws:") base.protocol = "http:";
  if (base.protocol === "wss:") base.protocol = "https:";
  const prefix = base.pathname.replace(/\/+$/, "");
  const url = `${base.origin}${prefix}/candidate-sessions/${encodeURIComponent(client.sessionId)}${path}`;
  const headers = { authorization: `Bearer ${client.options.token}` };
  if (contentType) headers["content-type"] = contentType;
  const response = await fetch(url, { method, headers, body });
  const answer = await response.json().catch(() => ({}));
  if (!response.ok) {
    const error = new Error(answer?.error?.message || `${method} ${path} answered ${response.status}`);
    error.code = answer?.error?.code;
    throw error;
  }
  return answer;
}
