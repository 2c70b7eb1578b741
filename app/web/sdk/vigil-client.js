/**
 * Vigil candidate SDK: a plain ES module, no build step, no dependencies.
 *
 * Drop it into the assessment page and connect once the candidate's session exists:
 *
 *     import { connect } from "https://vigil.example.org/sdk/vigil-client.js";
 *
 *     const vigil = connect({
 *       url: "https://vigil.example.org",   // the Vigil server (http(s):// or ws(s)://)
 *       sessionId, token,                   // from POST /candidate-sessions (candidateToken)
 *       video: document.querySelector("#self-view"),   // optional webcam preview
 *       onWarning: ({ message, warningsLeft }) => showBanner(message, warningsLeft),
 *       onPause: ({ message }) => blockAnswering(message),
 *       onResume: () => unblockAnswering(),
 *       onTerminate: ({ reason }) => endTest(reason),
 *       onStatus: (status) => showConnection(status),
 *       onPending: (count) => showUnsent(count),
 *     });
 *     await vigil.start();                  // assessment_started
 *     await vigil.viewQuestion("q1");       // question_viewed
 *     await vigil.answer("q1", "Mars", 12); // answer_submitted, timeSpent in seconds
 *     await vigil.submit();                 // assessment_submitted
 *     await vigil.flush();                  // resolves when the server has stored everything
 *
 * What it does by itself (CONTRACT.md sections 4 and 8): opens the candidate socket
 * `/ws/candidate/{sessionId}` (the token in the subprotocol `vigil.token.<token>`), reports the browser events of the contract (tab switches,
 * focus loss with its duration, copy, paste, right click, devtools opening, fullscreen exit, idle,
 * a second tab of the same session, device info with a stable fingerprint, heartbeats), and sends
 * a 640x480 JPEG from the webcam every `frameIntervalMs` while connected.
 *
 * Nothing is lost on a network blip or a reload: every event is numbered (`seq`) and written to
 * IndexedDB when it is created, and deleted only when the server acknowledges it. A new page load
 * of the same session continues the numbering and resends what was not acknowledged. Webcam
 * frames are not kept: the server does not acknowledge them, and a late frame proves nothing.
 *
 * It never makes the page slow: no model runs in the browser (the server analyses the frames),
 * listeners are passive and only record a time, one 1 s timer does the idle and devtools checks,
 * and JPEG encoding runs in a worker when the page and the SDK share an origin (otherwise the
 * browser's asynchronous canvas encoder is used).
 *
 * The page hears from the SDK through the `on…` callbacks; none is required.
 *
 * The close codes, error codes and event types come from `./protocol.js`, which the server
 * generates from its own tables (docs/protocol.md describes the protocol).
 */

import { CANDIDATE_EVENT_TYPES, CLOSE, CLOSE_CODES, ERROR } from "./protocol.js";
import { runSystemCheck } from "./system-check.js";
import { ExamClock } from "./exam-clock.js";
import { Microphone } from "./audio.js";
import { ScreenRecorder } from "./screen-recorder.js";
import { BehaviourRecorder } from "./behaviour.js";

/** Event types a candidate may send (CONTRACT.md section 4). */
export const EVENT_TYPES = CANDIDATE_EVENT_TYPES;
const KNOWN_TYPES = new Set(EVENT_TYPES);

// Close codes after which reconnecting cannot help, each with the status the SDK stops in (the
// rest, 1006 included, are retried).
const TERMINAL_CLOSE = new Map(
  Object.values(CLOSE_CODES)
    .filter((close) => !close.reconnect)
    .map((close) => [close.code, close.outcome]),
);
const TERMINAL_STATUSES = new Set([...TERMINAL_CLOSE.values(), "terminated", "closed"]);

const DEFAULTS = Object.freeze({
  camera: true,
  audio: false, // issue 24: the microphone (./audio.js)
  screen: false, // issue 24: the whole screen, recorded and uploaded (./screen-recorder.js)
  behaviour: true, // issue 28: behaviour windows (./behaviour.js)
  frameIntervalMs: 2500,
  jpegQuality: 0.7,
  frameWidth: 640,
  frameHeight: 480,
  maxFrameBytes: 512 * 1024,
  maxEventBytes: 64 * 1024,
  heartbeatIntervalMs: 30000,
  idleThresholdMs: 60000,
  devtoolsThresholdPx: 160,
  blockContextMenu: false,
  blockClipboard: false,
  reconnectBaseMs: 500,
  reconnectMaxMs: 10000,
  syncTimeoutMs: 1000,
  ackTimeoutMs: 20000,
});
// How long to wait before resending from an event the server refused as rate_limited.
const RATE_LIMITED_RETRY_MS = 1000;
// A socket with more than this waiting to go out is not given another frame.
const MAX_BUFFERED_BYTES = 1024 * 1024;
const DB_NAME = "vigil-client";

/**
 * Open the candidate socket and start watching the page.
 *
 * @param {object} options
 * @param {string} [options.url] The Vigil server: `https://host[:port]`, or its `wss://` form.
 *   Defaults to the page's own origin.
 * @param {string} options.sessionId The candidate session's id.
 * @param {string} options.token The session's `candidateToken`.
 * @param {boolean} [options.camera=true] Capture webcam frames.
 * @param {boolean} [options.audio=false] Capture the microphone: one window of sound a second,
 *   judged again by the server (./audio.js); `audioConfirmEvery` (5) sets how often a quiet
 *   window carries its sound anyway.
 * @param {boolean} [options.screen=false] Share the whole screen, recorded in chunks of
 *   `screenChunkMs` (5000) at `screenBitsPerSecond` (300000) and uploaded while the exam runs
 *   (./screen-recorder.js; the page must be on the server's origin).
 * @param {boolean} [options.behaviour=true] Send `behaviour_window` events: per question and
 *   10 s window, keystroke counts and intervals, characters typed or pasted, the pointer's path
 *   and untrusted input, never which keys or what text (./behaviour.js, docs/behaviour.md).
 * @param {MediaStream} [options.stream] Use this camera stream instead of asking for one
 *   (`stopCamera()` then leaves its tracks running).
 * @param {HTMLVideoElement} [options.video] Show the camera in this element (a self-view).
 * @param {number} [options.frameIntervalMs=2500] Time between two webcam frames.
 * @param {number} [options.jpegQuality=0.7] JPEG quality, 0 to 1.
 * @param {number} [options.heartbeatIntervalMs=30000] Time between heartbeats (0: none).
 * @param {number} [options.idleThresholdMs=60000] No input for this long is `idle_detected`.
 * @param {number} [options.devtoolsThresholdPx=160] Window-minus-viewport growth that counts as
 *   docked developer tools.
 * @param {boolean} [options.blockContextMenu=false] Also cancel the right-click menu.
 * @param {boolean} [options.blockClipboard=false] Also cancel copy, cut and paste.
 * @param {number} [options.reconnectBaseMs=500] First reconnect delay; doubles per failure.
 * @param {number} [options.reconnectMaxMs=10000] Longest reconnect delay.
 * @param {number} [options.syncTimeoutMs=1000] How long a new connection waits for the server's
 *   first ack (its last stored seq) before sending; the server sends none for a fresh session.
 * @param {number} [options.ackTimeoutMs=20000] A connection that acknowledges nothing sent for
 *   this long is presumed dead and replaced.
 * @param {number} [options.maxEventBytes=65536] The server's `[candidate] max_event_bytes`: a
 *   bigger event is refused by track() (onError too_large) and never queued, so it cannot block
 *   the ones after it. (The server refuses one over its limit with too_large, and closes the
 *   socket with message_too_big on a frame over its transport limit, 1 MiB by default.)
 * @param {(w: {message: string, reason: string, warningsLeft?: number}) => void} [options.onWarning]
 * @param {(p: {message: string, reason: string}) => void} [options.onPause]
 * @param {(r: {message?: string}) => void} [options.onResume]
 * @param {(c: {secondsLeft: number, endsAt: string, timeUp: boolean}) => void} [options.onClock]
 *   The time left of a timed assessment, by the server's clock, every second (exam-clock.js).
 * @param {(t: {reason: string}) => void} [options.onTerminate]
 * @param {(status: Status, detail: object) => void} [options.onStatus]
 * @param {(count: number) => void} [options.onPending] Events not yet acknowledged.
 * @param {(error: {code: string, message: string}) => void} [options.onError]
 * @returns {VigilClient}
 */
export function connect(options) {
  return new VigilClient(options);
}

/**
 * @typedef {"connecting"|"connected"|"offline"|"reconnecting"|"replaced"|"rejected"|"erased"
 *   |"failed"|"terminated"|"closed"} Status
 * `offline`: the connection is lost and the next attempt is due in `detail.retryInMs`.
 * `replaced`, `rejected`, `erased`, `failed`, `terminated` and `closed` are final.
 */

/** A connected candidate session. Create it with `connect()`. */
export class VigilClient {
  constructor(options) {
    if (!options || !options.sessionId || !options.token) {
      throw new TypeError("connect() needs {url, sessionId, token}; got " + JSON.stringify(
        { sessionId: options?.sessionId, token: options?.token ? "…" : options?.token }));
    }
    this.options = { ...DEFAULTS, ...options };
    /** @type {string} */
    this.sessionId = options.sessionId;
    /** @type {Status} */
    this.status = "connecting";
    /** True between a `pause` and a `resume` from the server. */
    this.paused = false;
    /** The question the candidate is on (sent with the events it causes). */
    this.questionId = null;
    /** Counters for the page: frames sent and dropped, events sent (resends included). */
    this.stats = { framesSent: 0, framesDropped: 0, eventsSent: 0, lastAck: 0 };

    this._socketProtocols = socketProtocols(options.token);
    this._socketUrl = socketUrl(options.url, options.sessionId,
      this._socketProtocols ? null : options.token);
    // The address given (a load balancer, perhaps); a `moved` close sends the socket to the node
    // that hosts the session, and any other close there brings it back here.
    this._homeUrl = this._socketUrl;
    this._movedTo = null; // the owner's address, from the `moved` message before the close
    this._moves = 0; // moves followed since the last connection that synced
    this._journal = new Journal(options.sessionId, (error) => this._fail("storage", error));
    this._pending = new Map(); // seq -> record, everything not acknowledged
    this._issued = 0; // highest seq this page knows to exist
    this._ws = null;
    this._synced = false; // the server's first ack was heard, or none came in time
    this._holding = false; // renumbering the queue: send nothing meanwhile
    this._sentUpTo = 0; // highest seq sent on the current socket
    this._gapHandled = null; // the `expected` of a seq_gap already answered
    this._attempt = 0;
    this._timers = { retry: 0, sync: 0, ack: 0, heartbeat: 0, throttle: 0 };
    this._waiters = []; // {seq, resolve} for flush()
    this._lastTrack = Promise.resolve(); // the newest track(), for flush()
    this._camera = null;
    /** The time left, by the server's clock (exam-clock.js); null without a time limit. */
    this.clock = new ExamClock(options.onClock);

    this._ready = this._journal.open().then((stored) => {
      for (const record of stored.events) this._pending.set(record.seq, record);
      this._issued = Math.max(stored.nextSeq - 1, this._issued);
      this.stats.lastAck = stored.acked;
      this._emitPending();
    });
    this._watchers = watchBrowser(this, this.options);
    // Issue 28: how answers are entered, per question and 10 s window (./behaviour.js).
    this._behaviour = this.options.behaviour
      ? new BehaviourRecorder(
        (questionId, data) => this.track("behaviour_window", data, questionId).catch(() => {}),
        () => this.questionId)
      : null;
    this._tabs = watchTabs(this);
    this._ready.finally(() => this._open());
    // The browser knows the network is back before the next retry is due.
    this._online = () => this.reconnectNow();
    globalThis.addEventListener?.("online", this._online);
    if (this.options.camera) this.startCamera();
    if (this.options.audio) this.startAudio();
    if (this.options.screen) this.startScreen();
  }

  // --- the page's API ---------------------------------------------------------------------

  /** The number of events not yet acknowledged by the server. */
  get pending() {
    return this._pending.size;
  }

  /**
   * The system check before the exam (./system-check.js): camera and microphone permission, a
   * calibration frame the server analyses, and the candidate's consent; each result is an event.
   * `consent`: `true` if the page showed the text and the candidate agreed, or a function given
   * the server's consent text that resolves to the candidate's answer.
   * @returns {Promise<{passed: boolean, camera: string, microphone: string, calibration: object|null,
   *   consent: {accepted: boolean, text: string}|null}>}
   */
  check(options) {
    return runSystemCheck(this, options);
  }

  /**
   * End a pause: record `pause_acknowledged` (document 002: the pause lasts until the candidate
   * acknowledges it). The server answers `resume`. @returns {Promise<number>} its seq.
   */
  acknowledgePause() {
    return this.track("pause_acknowledged");
  }

  /** Record `assessment_started`. @returns {Promise<number>} its seq, once stored locally. */
  start() {
    return this.track("assessment_started");
  }

  /** Record `question_viewed`; later events carry this question's id. @returns {Promise<number>} */
  viewQuestion(questionId) {
    this._behaviour?.flush(); // the last question's window ends here
    this.questionId = String(questionId);
    return this.track("question_viewed", undefined, this.questionId);
  }

  /**
   * Record `answer_submitted`.
   * @param {string} questionId
   * @param {*} response The answer (a choice, a number or a text).
   * @param {number} [timeSpent=0] Seconds spent on the question.
   * @returns {Promise<number>}
   */
  answer(questionId, response, timeSpent = 0) {
    const seconds = Math.max(0, Number(timeSpent) || 0);
    this._behaviour?.flush(); // how the answer was entered comes before the answer
    return this.track("answer_submitted", { response, timeSpent: seconds }, String(questionId));
  }

  /** Record `assessment_submitted`. @returns {Promise<number>} */
  submit() {
    this.stopScreen(); // issue 24: the share ends with the exam, not before it
    this._behaviour?.stop();
    this._behaviour = null;
    return this.track("assessment_submitted");
  }

  /**
   * Record any candidate event of the contract.
   * @param {string} type One of `EVENT_TYPES`.
   * @param {object} [data]
   * @param {string} [questionId] Defaults to the current question.
   * @returns {Promise<number>} the seq it was given, once it is stored in IndexedDB. Seqs
   *   may move down later: if the server refuses an event (bad data), the ones after it are
   *   renumbered to close the hole; and when the server already holds events this browser never
   *   saw (another device), this browser's events are numbered after them.
   */
  track(type, data, questionId = this.questionId) {
    if (!KNOWN_TYPES.has(type)) {
      return Promise.reject(new TypeError(
        `unknown event type ${JSON.stringify(type)}; expected one of ${EVENT_TYPES.join(", ")}`));
    }
    if (TERMINAL_STATUSES.has(this.status)) {
      return Promise.reject(new Error(`the Vigil client is ${this.status}; ${type} not recorded`));
    }
    const record = { type, ts: new Date().toISOString() };
    if (questionId !== null && questionId !== undefined) record.questionId = String(questionId);
    if (data !== undefined) record.data = data;
    const size = encodedSize(record);
    if (size > this.options.maxEventBytes) {
      const error = new RangeError(`${type} is ${size} bytes as JSON; the server takes at most ` +
        `${this.options.maxEventBytes} (maxEventBytes): not recorded`);
      this._fail("too_large", error);
      return Promise.reject(error);
    }
    const tracked = this._ready.then(() => this._journal.append(record)).then((stored) => {
      this._pending.set(stored.seq, stored);
      this._issued = Math.max(this._issued, stored.seq);
      this._tabs.queued();
      this._emitPending();
      this._pump();
      return stored.seq;
    });
    this._lastTrack = tracked.catch(() => {});
    return tracked;
  }

  /**
   * Resolve once every event recorded so far is acknowledged (stored by the server).
   * @param {number} [timeoutMs] Reject after this long.
   * @returns {Promise<void>}
   */
  flush(timeoutMs) {
    return this._lastTrack.then(() => new Promise((resolve, reject) => {
      const seq = this._issued;
      if (this.stats.lastAck >= seq || this._pending.size === 0) {
        resolve();
        return;
      }
      const waiter = { seq, resolve };
      this._waiters.push(waiter);
      if (timeoutMs !== undefined) {
        setTimeout(() => {
          this._waiters = this._waiters.filter((w) => w !== waiter);
          reject(new Error(`${this._pending.size} events still unacknowledged after ${timeoutMs} ms`));
        }, timeoutMs);
      }
    }));
  }

  /** Start the webcam (done by `connect` unless `camera: false`). @returns {Promise<void>} */
  startCamera() {
    if (!this._camera) this._camera = new Camera(this, this.options);
    return this._camera.start();
  }

  /** Stop capturing frames and release the camera (unless the page passed its own stream). */
  stopCamera() {
    this._camera?.stop();
    this._camera = null;
  }

  /** Start the microphone (done by `connect` with `audio: true`). @returns {Promise<void>} */
  startAudio() {
    if (!this._microphone) this._microphone = new Microphone(this, this.options);
    return this._microphone.start();
  }

  /** Stop sending sound and release the microphone. */
  stopAudio() {
    this._microphone?.stop();
    this._microphone = null;
  }

  /** Share and record the whole screen (done by `connect` with `screen: true`). */
  startScreen() {
    if (!this._screen) this._screen = new ScreenRecorder(this, this.options);
    return this._screen.start();
  }

  /** Stop recording the screen on purpose (what is recorded still uploads). */
  stopScreen() {
    this._screen?.finish();
  }

  /** The screen recorder (its `stats` and `pending` chunks), or null. */
  get screenRecorder() {
    return this._screen ?? null;
  }

  /** While waiting to reconnect, try now (e.g. from a "Retry" button). */
  reconnectNow() {
    if (this._ws === null && !TERMINAL_STATUSES.has(this.status)) {
      clearTimeout(this._timers.retry);
      this._open();
    }
  }

  /**
   * Stop everything and close the socket. Unacknowledged events stay in IndexedDB and are sent
   * by the next `connect()` of this session.
   */
  close() {
    this._shutdown("closed", 1000, "client closed");
  }

  // --- the socket ---------------------------------------------------------------------------

  _open() {
    if (TERMINAL_STATUSES.has(this.status) || this._ws !== null) return;
    this._setStatus(this._attempt === 0 && this.stats.eventsSent === 0 ? "connecting" : "reconnecting");
    let ws;
    try {
      ws = this._socketProtocols
        ? new WebSocket(this._socketUrl, this._socketProtocols)
        : new WebSocket(this._socketUrl);
    } catch (error) {
      this._fail("bad_url", error);
      this._shutdown("failed");
      return;
    }
    ws.binaryType = "arraybuffer";
    this._ws = ws;
    this._synced = false;
    this._holding = false;
    this._sentUpTo = 0;
    this._gapHandled = null;
    ws.onopen = () => {
      // Wait for the server's first ack, its last stored seq, before sending: it tells whether
      // the server already holds events this browser does not know (another device).
      this._timers.sync = setTimeout(() => this._onSynced(), this.options.syncTimeoutMs);
    };
    ws.onmessage = (message) => this._onMessage(message.data);
    ws.onclose = (event) => this._onClose(ws, event.code, event.reason);
    ws.onerror = () => {}; // always followed by close, where it is handled
  }

  _onSynced() {
    if (this._synced || this._ws === null) return;
    clearTimeout(this._timers.sync);
    this._synced = true;
    this._attempt = 0;
    this._moves = 0;
    this._setStatus("connected");
    // Once per connection: the server keeps the newest, and compares fingerprints.
    deviceInfo().then((data) => this.track("device_info", data, null)).catch((error) => {
      if (!TERMINAL_STATUSES.has(this.status)) this._fail("device_info", error);
    });
    this._pump();
    this._armHeartbeat();
    this._camera?.capture(); // a picture at once, not one interval after (re)connecting
  }

  _onMessage(text) {
    if (typeof text !== "string") return;
    let message;
    try {
      message = JSON.parse(text);
    } catch {
      this._fail("bad_message", new Error(`the server sent a frame that is not JSON: ${text}`));
      return;
    }
    switch (message.type) {
      case "ack":
        this._onAck(message.seq);
        break;
      case "error":
        this._onServerError(message);
        break;
      case "warning":
        call(this.options.onWarning, {
          message: message.message, reason: message.reason, warningsLeft: message.warningsLeft,
          severity: message.severity, action: message.action, timestamp: message.timestamp,
        });
        break;
      case "clock":
        this.clock.update(message);
        break;
      case "moved":
        if (typeof message.url === "string") this._movedTo = message.url;
        break;
      case "pause":
        this.paused = true;
        call(this.options.onPause, { message: message.message, reason: message.reason });
        break;
      case "resume":
        this.paused = false;
        call(this.options.onResume, { message: message.message });
        break;
      case "terminate":
        this.paused = false;
        this._shutdown("terminated", 1000, "terminated");
        call(this.options.onTerminate, { reason: message.reason });
        break;
      default:
        break; // the contract may add messages; an old client ignores them
    }
  }

  _onAck(seq) {
    if (!Number.isInteger(seq)) return;
    if (seq > this._issued) {
      this._holding = true;
      clearTimeout(this._timers.sync);
      this._journal.adopt(seq).then(({ events, nextSeq, renumbered }) => {
        this._holding = false;
        if (renumbered) {
          this._reload(events, seq, seq);
        } else {
          // Another tab of this browser numbered them: nothing to fix.
          this._issued = Math.max(this._issued, nextSeq - 1);
          for (const record of events) this._pending.set(record.seq, record);
          this._onAck(seq);
          this._pump();
        }
      }, (error) => this._fail("storage", error));
      return;
    }
    if (seq > this.stats.lastAck) {
      this.stats.lastAck = seq;
      this._gapHandled = null;
      for (const key of this._pending.keys()) if (key <= seq) this._pending.delete(key);
      this._journal.acked(seq);
      this._emitPending();
      this._waiters = this._waiters.filter((w) => (w.seq <= seq ? (w.resolve(), false) : true));
      this._armAckTimer(true);
    }
    if (!this._synced) this._onSynced();
  }

  _onServerError(message) {
    if (message.code === ERROR.SEQ_GAP && Number.isInteger(message.expected)) {
      if (this._gapHandled === message.expected) return; // the same gap, from the same burst
      this._gapHandled = message.expected;
      this._journal.pending().then((events) => this._fillGap(message.expected, events));
      return;
    }
    if (message.code === "rate_limited" && this._pending.has(message.seq)) {
      // Valid, only early: send it and the ones after it again once the server's bucket has
      // refilled. (Past a burst's first errors the server sends none: the rewind to the first
      // one covers the rest.)
      this._sentUpTo = Math.min(this._sentUpTo, message.seq - 1);
      if (!this._timers.throttle) {
        this._timers.throttle = setTimeout(() => {
          this._timers.throttle = 0;
          this._pump();
        }, RATE_LIMITED_RETRY_MS);
      }
      return;
    }
    this._fail(message.code || "server_error", new Error(message.message || JSON.stringify(message)));
    const refused = this._pending.get(message.seq);
    if (refused !== undefined) {
      // The server will never store it, and the ones after it cannot come before it does:
      // drop it and close the hole it leaves.
      this._holding = true;
      this._journal.renumber(message.seq - 1, message.seq, message.seq).then((events) => {
        this._holding = false;
        this._reload(events, message.seq - 1);
      }, (error) => this._fail("storage", error));
    }
  }

  _fillGap(expected, events) {
    const first = events.length ? events[0].seq : null;
    if (first !== null && first > expected) {
      // The server lacks events this browser no longer has (lost storage): renumber what is
      // left to follow what the server has.
      this._holding = true;
      this._journal.renumber(0, expected).then((renumbered) => {
        this._holding = false;
        this._reload(renumbered, expected - 1);
      }, (error) => this._fail("storage", error));
      return;
    }
    this._reload(events, expected - 1);
  }

  /** Replace the in-memory queue with `events` and resend everything after `sentUpTo`. */
  _reload(events, sentUpTo, lastAck = this.stats.lastAck) {
    // What the server acknowledged meanwhile may still be in `events` (read from storage before
    // the ack's delete ran): acknowledged is done, whatever storage said a moment ago.
    const unacked = events.filter((record) => record.seq > lastAck);
    this._pending = new Map(unacked.map((record) => [record.seq, record]));
    for (const record of events) this._issued = Math.max(this._issued, record.seq);
    this._issued = Math.max(this._issued, lastAck);
    this.stats.lastAck = lastAck;
    this._sentUpTo = sentUpTo;
    // Renumbering moves seqs: whoever waits in flush() now waits for the newest one.
    for (const waiter of this._waiters) waiter.seq = Math.max(waiter.seq, this._issued);
    this._emitPending();
    if (!this._synced && this._ws !== null && this._ws.readyState === WebSocket.OPEN) {
      this._onSynced();
    } else {
      this._pump();
    }
  }

  /** Send, in order, every unacknowledged event not yet sent on this socket. */
  _pump() {
    const ws = this._ws;
    if (ws === null || !this._synced || this._holding || this._timers.throttle) return;
    if (ws.readyState !== WebSocket.OPEN) return;
    const due = [...this._pending.keys()].filter((seq) => seq > this._sentUpTo).sort((a, b) => a - b);
    for (const seq of due) {
      const { type, ts, questionId, data } = this._pending.get(seq);
      ws.send(JSON.stringify({ type, seq, ts, questionId, data }));
      this._sentUpTo = seq;
      this.stats.eventsSent += 1;
    }
    if (due.length) this._armAckTimer();
  }

  /**
   * Count from the oldest unacknowledged send: newer sends do not push the deadline back, an
   * ack that moves forward (`progress`) does.
   */
  _armAckTimer(progress = false) {
    if (this._sentUpTo <= this.stats.lastAck) {
      clearTimeout(this._timers.ack);
      this._timers.ack = 0;
      return;
    }
    if (this._timers.ack && !progress) return;
    clearTimeout(this._timers.ack);
    const ws = this._ws;
    this._timers.ack = setTimeout(() => {
      this._timers.ack = 0;
      // Sent, never acknowledged: a half-open connection (e.g. a network that vanished without
      // a FIN). Drop it and reconnect; the next socket resends.
      if (ws === this._ws) this._onClose(ws, 4000, "no ack");
    }, this.options.ackTimeoutMs);
  }

  _onClose(ws, code, reason) {
    if (ws !== this._ws) return;
    this._ws = null;
    this._synced = false;
    ws.onopen = ws.onmessage = ws.onclose = null;
    if (ws.readyState === WebSocket.OPEN || ws.readyState === WebSocket.CONNECTING) {
      try {
        ws.close(4000, reason);
      } catch {
        // already closing
      }
    }
    clearTimeout(this._timers.sync);
    clearTimeout(this._timers.ack);
    clearTimeout(this._timers.heartbeat);
    this._timers.ack = 0;
    if (TERMINAL_STATUSES.has(this.status)) return;
    const movedTo = this._movedTo;
    this._movedTo = null;
    if (code === CLOSE.MOVED && movedTo !== null && this._moves < 3) {
      this._moves += 1; // nodes that disagree about the owner must not bounce it forever
      try {
        this._socketUrl = socketUrl(movedTo, this.sessionId,
          this._socketProtocols ? null : this.options.token);
        this._setStatus("offline", { retryInMs: 0, attempt: this._attempt, code, reason });
        this._timers.retry = setTimeout(() => this._open(), 0); // at once: nothing is wrong
        return;
      } catch {
        // not an address: retry the given one, as after any close
      }
    }
    this._socketUrl = this._homeUrl;
    const final = TERMINAL_CLOSE.get(code);
    if (final !== undefined) {
      if (final === "erased") this._journal.erase(); // the right to erasure reaches the browser
      this._shutdown(final);
      return;
    }
    const ceiling = Math.min(this.options.reconnectMaxMs, this.options.reconnectBaseMs * 2 ** this._attempt);
    const delay = Math.round(ceiling / 2 + Math.random() * ceiling / 2); // jitter spreads a herd
    this._attempt += 1;
    this._setStatus("offline", { retryInMs: delay, attempt: this._attempt, code, reason });
    this._timers.retry = setTimeout(() => this._open(), delay);
  }

  _armHeartbeat() {
    clearTimeout(this._timers.heartbeat);
    const every = this.options.heartbeatIntervalMs;
    if (!every) return;
    this._timers.heartbeat = setTimeout(async () => {
      // Only while connected: a heartbeat is proof of presence now, not a backlog to replay.
      if (this._synced) {
        this.track("heartbeat", await deviceLoad(), null).catch(() => {});
        this._armHeartbeat();
      }
    }, every);
  }

  /** Send one webcam frame if the socket can take it now. @returns {boolean} sent */
  _sendFrame(jpeg) {
    const ws = this._ws;
    if (ws === null || !this._synced || ws.readyState !== WebSocket.OPEN) return false;
    if (ws.bufferedAmount > MAX_BUFFERED_BYTES) return false;
    ws.send(jpeg);
    return true;
  }

  _canSendFrame() {
    return this._ws !== null && this._synced && this._ws.bufferedAmount <= MAX_BUFFERED_BYTES;
  }

  _shutdown(status, code = 1000, reason = "") {
    if (TERMINAL_STATUSES.has(this.status)) return;
    this.clock.stop();
    this._setStatus(status);
    this._synced = false; // also stops a heartbeat that is being prepared
    for (const timer of Object.values(this._timers)) clearTimeout(timer);
    this._watchers();
    this._behaviour?.stop();
    this._behaviour = null;
    this._tabs.close();
    globalThis.removeEventListener?.("online", this._online);
    this.stopCamera();
    this.stopAudio();
    this._screen?.finish();
    const ws = this._ws;
    this._ws = null;
    if (ws !== null) {
      ws.onopen = ws.onmessage = ws.onclose = null;
      if (ws.readyState <= WebSocket.OPEN) ws.close(code, reason);
    }
  }

  _setStatus(status, detail = {}) {
    this.status = status;
    call(this.options.onStatus, status, detail);
  }

  _emitPending() {
    call(this.options.onPending, this._pending.size);
  }

  _fail(code, error) {
    const message = error instanceof Error ? error.message : String(error);
    call(this.options.onError, { code, message });
  }
}

// --- the socket URL -----------------------------------------------------------------------

// The token rides in a subprotocol, `vigil.token.<token>` beside `vigil` (the one the server
// accepts with), so it is never in a URL that proxies and servers log. A token a subprotocol
// cannot carry (not an HTTP token) goes in `?token=` instead.
const PROTOCOL_SAFE = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;

function socketProtocols(token) {
  return PROTOCOL_SAFE.test(token) ? ["vigil", `vigil.token.${token}`] : null;
}

function socketUrl(base, sessionId, token) {
  const url = new URL(base || globalThis.location.origin);
  if (url.protocol === "http:") url.protocol = "ws:";
  else if (url.protocol === "https:") url.protocol = "wss:";
  else if (url.protocol !== "ws:" && url.protocol !== "wss:") {
    throw new TypeError(`url must be http(s):// or ws(s)://; got ${JSON.stringify(base)}`);
  }
  const prefix = url.pathname.replace(/\/+$/, "");
  url.pathname = `${prefix}/ws/candidate/${encodeURIComponent(sessionId)}`;
  url.search = token === null ? "" : `?token=${encodeURIComponent(token)}`;
  url.hash = "";
  return url.href;
}

/** The bytes an event takes on the wire, as _pump() sends it (the seq is at most 16 digits). */
function encodedSize(record) {
  const { type, ts, questionId, data } = record;
  return new TextEncoder().encode(JSON.stringify({ type, seq: 2 ** 53, ts, questionId, data }))
    .length;
}

/** Call a page callback; an exception in it is reported, and does not break the SDK. */
function call(callback, ...args) {
  if (typeof callback !== "function") return;
  try {
    callback(...args);
  } catch (error) {
    (globalThis.reportError || console.error)(error);
  }
}

// --- durability: the unacknowledged events, in IndexedDB ----------------------------------

/**
 * Per session: `meta` {sessionId, nextSeq, acked} and `events` keyed [sessionId, seq]. Every
 * change is one readwrite transaction over both stores; IndexedDB runs those one at a time,
 * in the order they were made, even across tabs, so two tabs never reuse a seq.
 * Without IndexedDB (some private modes) the same is kept in memory for this page only.
 */
class Journal {
  constructor(sessionId, onError) {
    this.sessionId = sessionId;
    this.onError = onError;
    this.db = null;
    this.memory = null; // {meta, events: Map} when IndexedDB is unavailable
  }

  async open() {
    try {
      this.db = await openDatabase();
    } catch (error) {
      this.onError(new Error(`IndexedDB unavailable, events are kept in memory only: ${error}`));
      this.memory = { meta: { nextSeq: 1, acked: 0 }, events: new Map() };
      return { events: [], nextSeq: 1, acked: 0 };
    }
    const meta = await this._run("readonly", (stores, done) => {
      stores.meta.get(this.sessionId).onsuccess = (e) => done(e.target.result);
    });
    return {
      events: await this.pending(),
      nextSeq: meta ? meta.nextSeq : 1,
      acked: meta ? meta.acked : 0,
    };
  }

  /** Number and store one event. @returns {Promise<object>} the stored record, with its seq. */
  append(record) {
    if (this.memory) {
      const stored = { ...record, seq: this.memory.meta.nextSeq++ };
      this.memory.events.set(stored.seq, stored);
      return Promise.resolve(stored);
    }
    return this._run("readwrite", (stores, done) => {
      stores.meta.get(this.sessionId).onsuccess = (e) => {
        const meta = e.target.result || { sessionId: this.sessionId, nextSeq: 1, acked: 0 };
        const stored = { ...record, sessionId: this.sessionId, seq: meta.nextSeq };
        meta.nextSeq += 1;
        stores.meta.put(meta);
        stores.events.put(stored);
        done(stored);
      };
    });
  }

  /** Every stored event of the session, by seq. */
  pending() {
    if (this.memory) {
      return Promise.resolve([...this.memory.events.values()].sort((a, b) => a.seq - b.seq));
    }
    return this._run("readonly", (stores, done) => {
      stores.events.getAll(this._range(1)).onsuccess = (e) => done(e.target.result);
    });
  }

  /** Forget the events the server acknowledged. */
  acked(seq) {
    if (this.memory) {
      for (const key of this.memory.events.keys()) if (key <= seq) this.memory.events.delete(key);
      this.memory.meta.acked = Math.max(this.memory.meta.acked, seq);
      this.memory.meta.nextSeq = Math.max(this.memory.meta.nextSeq, seq + 1);
      return;
    }
    this._run("readwrite", (stores, done) => {
      stores.events.delete(this._range(1, seq));
      stores.meta.get(this.sessionId).onsuccess = (e) => {
        const meta = e.target.result;
        if (meta && seq > meta.acked) {
          meta.acked = seq;
          meta.nextSeq = Math.max(meta.nextSeq, seq + 1);
          stores.meta.put(meta);
        }
        done();
      };
    }).catch(this.onError);
  }

  /**
   * Renumber the events after `after`, leaving out `drop`, as `first`, `first + 1`, …, and move
   * the counter past them. @returns {Promise<object[]>} every event now stored.
   */
  renumber(after, first, drop = null) {
    const split = (events) => {
      const kept = events.filter((record) => record.seq <= after);
      const moved = events
        .filter((record) => record.seq > after && record.seq !== drop)
        .map((record, index) => ({ ...record, seq: first + index }));
      return [kept, moved];
    };
    if (this.memory) {
      const [kept, moved] = split([...this.memory.events.values()].sort((a, b) => a.seq - b.seq));
      this.memory.events = new Map([...kept, ...moved].map((record) => [record.seq, record]));
      this.memory.meta.nextSeq = first + moved.length;
      return Promise.resolve([...kept, ...moved]);
    }
    return this._run("readwrite", (stores, done) => {
      stores.events.getAll(this._range(1)).onsuccess = (e) => {
        const [kept, moved] = split(e.target.result);
        stores.events.delete(this._range(after + 1));
        for (const record of moved) stores.events.put(record);
        stores.meta.get(this.sessionId).onsuccess = (m) => {
          const meta = m.target.result || { sessionId: this.sessionId, nextSeq: 1, acked: 0 };
          meta.nextSeq = first + moved.length;
          stores.meta.put(meta);
          done([...kept, ...moved]);
        };
      };
    });
  }

  /**
   * The server acknowledged `serverSeq`, more than this page numbered. If no tab of this browser
   * numbered that far either, the server holds events from elsewhere (another device, storage
   * the browser lost): number every stored event after `serverSeq`, or the server would take
   * them for duplicates and drop them.
   * @returns {Promise<{events: object[], nextSeq: number, renumbered: boolean}>}
   */
  adopt(serverSeq) {
    const known = this.memory ? Promise.resolve(this.memory.meta.nextSeq) : this._run(
      "readonly", (stores, done) => {
        stores.meta.get(this.sessionId).onsuccess = (e) => done(e.target.result?.nextSeq ?? 1);
      });
    return known.then((nextSeq) => {
      if (nextSeq - 1 >= serverSeq) {
        return this.pending().then((events) => ({ events, nextSeq, renumbered: false }));
      }
      return this.renumber(0, serverSeq + 1).then((events) => {
        this.acked(serverSeq);
        return { events, nextSeq: serverSeq + 1 + events.length, renumbered: true };
      });
    });
  }

  /** Delete everything kept for the session (it was erased on the server). */
  erase() {
    if (this.memory) {
      this.memory.events.clear();
      return;
    }
    this._run("readwrite", (stores, done) => {
      stores.events.delete(this._range(1));
      stores.meta.delete(this.sessionId);
      done();
    }).catch(this.onError);
  }

  _range(from, to = Number.MAX_SAFE_INTEGER) {
    return IDBKeyRange.bound([this.sessionId, from], [this.sessionId, to]);
  }

  _run(mode, body) {
    return new Promise((resolve, reject) => {
      const tx = this.db.transaction(["meta", "events"], mode);
      let result;
      body({ meta: tx.objectStore("meta"), events: tx.objectStore("events") }, (value) => {
        result = value;
      });
      tx.oncomplete = () => resolve(result);
      tx.onabort = tx.onerror = () => reject(tx.error || new Error("IndexedDB transaction aborted"));
    });
  }
}

function openDatabase() {
  return new Promise((resolve, reject) => {
    if (!globalThis.indexedDB) {
      reject(new Error("no indexedDB in this browser"));
      return;
    }
    const request = indexedDB.open(DB_NAME, 1);
    request.onupgradeneeded = () => {
      const db = request.result;
      db.createObjectStore("meta", { keyPath: "sessionId" });
      db.createObjectStore("events", { keyPath: ["sessionId", "seq"] });
    };
    request.onsuccess = () => {
      const db = request.result;
      db.onversionchange = () => db.close(); // let a newer SDK upgrade the database
      resolve(db);
    };
    request.onerror = () => reject(request.error);
    request.onblocked = () => reject(new Error("IndexedDB upgrade blocked by another tab"));
  });
}

// --- the browser events -------------------------------------------------------------------

/**
 * Listen for the contract's browser events. Listeners are passive where they can be and only
 * note a time or send an event; one 1 s timer checks idle time and the devtools heuristic.
 * @returns {() => void} stops everything
 */
function watchBrowser(client, options) {
  const controller = new AbortController();
  const on = (target, type, handler, extra = {}) =>
    target.addEventListener(type, handler, { signal: controller.signal, ...extra });
  const emit = (type, data) => client.track(type, data).catch(() => {});

  on(document, "visibilitychange", () => {
    if (document.visibilityState === "hidden") emit("tab_switch_detected", { visibility: "hidden" });
  });

  let blurredAt = null;
  on(window, "blur", () => {
    // Focus moving into an iframe of the page blurs the window but does not leave the page.
    setTimeout(() => {
      if (document.activeElement instanceof HTMLIFrameElement || blurredAt !== null) return;
      blurredAt = performance.now();
    }, 0);
  });
  on(window, "focus", () => {
    if (blurredAt === null) return;
    const durationMs = Math.max(0, Math.round(performance.now() - blurredAt));
    blurredAt = null;
    emit("focus_lost", { durationMs });
  });

  const selected = () => String(globalThis.getSelection?.() ?? "").length;
  const clipboard = (type, action) => (event) => {
    emit(type, action === "paste" ? { action } : { action, length: selected() });
    if (options.blockClipboard) event.preventDefault();
  };
  on(document, "copy", clipboard("copy_attempt", "copy"), { capture: true });
  on(document, "cut", clipboard("copy_attempt", "cut"), { capture: true });
  on(document, "paste", clipboard("paste_attempt", "paste"), { capture: true });

  on(document, "contextmenu", (event) => {
    emit("right_click_attempt", { target: event.target?.tagName?.toLowerCase() });
    if (options.blockContextMenu) event.preventDefault();
  }, { capture: true });

  let wasFullscreen = Boolean(document.fullscreenElement);
  on(document, "fullscreenchange", () => {
    const now = Boolean(document.fullscreenElement);
    if (wasFullscreen && !now) emit("fullscreen_exit");
    wasFullscreen = now;
  });

  let lastInput = performance.now();
  let idleReported = false;
  const active = () => {
    lastInput = performance.now();
    idleReported = false;
  };
  for (const type of ["pointermove", "pointerdown", "keydown", "wheel", "touchstart", "scroll"]) {
    on(document, type, active, { passive: true, capture: true });
  }

  const devtools = devtoolsProbe(options.devtoolsThresholdPx);
  on(window, "resize", () => {
    if (devtools()) emit("inspect_element_opened", { method: "window-size" });
  }, { passive: true });

  const tick = setInterval(() => {
    const idleMs = performance.now() - lastInput;
    if (!idleReported && idleMs >= options.idleThresholdMs) {
      idleReported = true; // once per idle spell; any input starts a new one
      emit("idle_detected", { seconds: Math.round(idleMs / 1000) });
    }
    if (devtools()) emit("inspect_element_opened", { method: "window-size" });
  }, 1000);

  return () => {
    controller.abort();
    clearInterval(tick);
  };
}

/**
 * Docked developer tools take room from the viewport but not from the window: the window
 * minus the viewport grows. Measured against the gap at start (browser chrome, scrollbars) and
 * corrected for page zoom, which shrinks the viewport in CSS pixels. No `debugger` traps: they
 * freeze the page. Undocked devtools are not seen.
 * @returns {() => boolean} true once per opening
 */
function devtoolsProbe(threshold) {
  const media = (query) => Boolean(globalThis.matchMedia?.(query).matches);
  const touchOnly = media("(pointer: coarse)") && !media("(pointer: fine)");
  const baseRatio = globalThis.devicePixelRatio || 1;
  const gap = () => {
    const zoom = (globalThis.devicePixelRatio || 1) / baseRatio;
    return [outerWidth - innerWidth * zoom, outerHeight - innerHeight * zoom];
  };
  const [baseWidth, baseHeight] = gap();
  let open = false;
  return () => {
    if (touchOnly || !outerWidth || !outerHeight || document.fullscreenElement) return false;
    const [width, height] = gap();
    const now = width - baseWidth > threshold || height - baseHeight > threshold;
    const opened = now && !open;
    open = now;
    return opened;
  };
}

/**
 * Other tabs of the same session, through a BroadcastChannel: a new tab says hello, those
 * already open answer, and the new tab reports `multiple_tabs_detected` (it is the one that
 * now holds the socket; the older one is closed with CLOSE.REPLACED). Tabs also tell each
 * other when they stored an event, so the connected one sends it.
 */
function watchTabs(client) {
  if (typeof BroadcastChannel !== "function") return { queued() {}, close() {} };
  const tab = globalThis.crypto?.randomUUID?.() ?? `${Date.now()}-${Math.random()}`;
  const channel = new BroadcastChannel(`vigil:${client.sessionId}`);
  const seen = new Set();
  channel.onmessage = ({ data }) => {
    if (!data || data.tab === tab) return;
    if (data.kind === "hello") {
      channel.postMessage({ kind: "here", tab });
    } else if (data.kind === "here" && !seen.has(data.tab)) {
      seen.add(data.tab);
      client.track("multiple_tabs_detected", { otherTabs: seen.size }).catch(() => {});
    } else if (data.kind === "queued" && client._ws !== null) {
      client._journal.pending().then((events) => client._reload(events, client._sentUpTo));
    }
  };
  channel.postMessage({ kind: "hello", tab });
  return {
    queued: () => channel.postMessage({ kind: "queued", tab }),
    close: () => channel.close(),
  };
}

// --- device info and load -----------------------------------------------------------------

/** The DeviceInfo fields of document 001, with a fingerprint of the stable ones. */
export async function deviceInfo() {
  const nav = globalThis.navigator;
  const screenSize = `${screen.width}x${screen.height}`;
  const info = {
    userAgent: nav.userAgent,
    platform: nav.userAgentData?.platform || nav.platform || "unknown",
    language: nav.language,
    timezone: Intl.DateTimeFormat().resolvedOptions().timeZone,
    screenResolution: screenSize,
    windowSize: `${innerWidth}x${innerHeight}`,
    colorDepth: screen.colorDepth,
    pixelRatio: globalThis.devicePixelRatio || 1,
    touchSupport: (nav.maxTouchPoints || 0) > 0,
  };
  if (typeof nav.deviceMemory === "number") info.deviceMemory = nav.deviceMemory;
  if (typeof nav.hardwareConcurrency === "number") info.hardwareConcurrency = nav.hardwareConcurrency;
  if (nav.connection?.effectiveType) info.connection = nav.connection.effectiveType;
  // Only what does not change while the same person uses the same device: not the window,
  // not the zoom, not the network.
  const stable = [
    nav.userAgent, info.platform, (nav.languages || [nav.language]).join(","), info.timezone,
    screenSize, screen.colorDepth, nav.hardwareConcurrency, nav.deviceMemory, nav.maxTouchPoints,
  ].join("|");
  info.deviceFingerprint = await fingerprint(stable);
  return info;
}

async function fingerprint(text) {
  const bytes = new TextEncoder().encode(text);
  if (globalThis.crypto?.subtle) {
    const digest = await crypto.subtle.digest("SHA-256", bytes);
    return [...new Uint8Array(digest)].map((b) => b.toString(16).padStart(2, "0")).join("");
  }
  // crypto.subtle exists only in secure contexts (https, localhost); say which hash this is.
  let hash = 0x811c9dc5;
  for (const byte of bytes) hash = Math.imul(hash ^ byte, 0x01000193) >>> 0;
  return `fnv1a32:${hash.toString(16).padStart(8, "0")}`;
}

/** What a heartbeat carries: battery level and JS heap use, each 0 to 1, when the browser tells. */
async function deviceLoad() {
  const data = {};
  try {
    if (typeof navigator.getBattery === "function") {
      data.batteryLevel = (await navigator.getBattery()).level;
    }
  } catch {
    // the battery API may be blocked by a permissions policy: leave it out
  }
  const memory = performance.memory;
  if (memory && memory.jsHeapSizeLimit) {
    data.memoryUsage = Math.round((memory.usedJSHeapSize / memory.jsHeapSizeLimit) * 1e6) / 1e6;
  }
  return Object.keys(data).length ? data : undefined;
}

// --- the webcam ---------------------------------------------------------------------------

class Camera {
  constructor(client, options) {
    this.client = client;
    this.options = options;
    this.ownStream = !options.stream;
    this.stream = options.stream || null;
    this.video = null;
    this.timer = 0;
    this.busy = false;
    this.stopped = false;
    this.encoder = null;
  }

  async start() {
    if (this.timer) return;
    const { frameWidth, frameHeight } = this.options;
    try {
      this.stream ??= await navigator.mediaDevices.getUserMedia({
        video: { width: { ideal: frameWidth }, height: { ideal: frameHeight } },
        audio: false,
      });
    } catch (error) {
      this.client._fail("camera_unavailable", error);
      // The server hears of it too: where the camera is required, no frame means CAMERA_OFF.
      const denied = error?.name === "NotAllowedError" || error?.name === "SecurityError";
      const detail = String(error?.name || error).slice(0, 200);
      this.client.track("camera_lost", { reason: denied ? "denied" : "unavailable", detail }, null)
        .catch(() => {});
      return;
    }
    if (this.stopped) {
      this.release();
      return;
    }
    this.video = this.options.video || document.createElement("video");
    this.video.muted = true;
    this.video.playsInline = true;
    this.video.srcObject = this.stream;
    this.video.play().catch(() => {}); // a preview the page hides may refuse to autoplay
    for (const track of this.stream.getVideoTracks()) {
      track.addEventListener("ended", () => {
        if (this.stopped) return;
        this.client._fail("camera_ended", new Error("the camera stopped"));
        this.client.track("camera_lost", { reason: "ended" }, null).catch(() => {});
      });
    }
    this.encoder = frameEncoder(this.options.jpegQuality);
    this.video.addEventListener("loadeddata", () => this.capture(), { once: true });
    this.timer = setInterval(() => this.capture(), this.options.frameIntervalMs);
  }

  async capture() {
    // No picture yet, or never connected yet: nothing was missed.
    if (this.stopped || !this.video || this.video.readyState < 2) return;
    if (this.client.status === "connecting") return;
    const stats = this.client.stats;
    if (this.busy || !this.client._canSendFrame()) {
      stats.framesDropped += 1; // offline or slow: frames are evidence only when live
      return;
    }
    this.busy = true;
    try {
      const { frameWidth, frameHeight, maxFrameBytes } = this.options;
      const scale = Math.min(1, frameWidth / this.video.videoWidth, frameHeight / this.video.videoHeight);
      const width = Math.max(1, Math.round(this.video.videoWidth * scale));
      const height = Math.max(1, Math.round(this.video.videoHeight * scale));
      const jpeg = await this.encoder(this.video, width, height);
      if (!this.stopped && jpeg.byteLength <= maxFrameBytes && this.client._sendFrame(jpeg)) {
        stats.framesSent += 1;
      } else {
        stats.framesDropped += 1;
      }
    } catch (error) {
      stats.framesDropped += 1;
      this.client._fail("frame_encoding", error);
    } finally {
      this.busy = false;
    }
  }

  stop() {
    this.stopped = true;
    clearInterval(this.timer);
    this.timer = 0;
    this.release();
  }

  release() {
    if (this.video) this.video.srcObject = null;
    if (this.ownStream && this.stream) for (const track of this.stream.getTracks()) track.stop();
    this.stream = null;
  }
}

/**
 * @returns {(video: HTMLVideoElement, width: number, height: number) => Promise<ArrayBuffer>}
 * A worker (this same file) draws and encodes when the page shares the SDK's origin; a worker
 * cannot be started from another origin, so there the canvas's asynchronous toBlob is used.
 */
function frameEncoder(quality) {
  let worker = null;
  if (typeof Worker === "function" && typeof OffscreenCanvas === "function" &&
      new URL(import.meta.url).origin === globalThis.location.origin) {
    try {
      worker = new Worker(import.meta.url, { type: "module", name: "vigil-jpeg" });
    } catch {
      worker = null;
    }
  }
  const canvas = document.createElement("canvas");
  const onCanvas = (video, width, height) => new Promise((resolve, reject) => {
    canvas.width = width;
    canvas.height = height;
    canvas.getContext("2d").drawImage(video, 0, 0, width, height);
    canvas.toBlob((blob) => (blob ? resolve(blob.arrayBuffer()) : reject(new Error("toBlob gave nothing"))),
      "image/jpeg", quality);
  });
  if (worker === null) return onCanvas;
  let next = 0;
  const waiting = new Map();
  worker.onmessage = ({ data }) => {
    const pending = waiting.get(data.id);
    waiting.delete(data.id);
    if (data.error) pending?.reject(new Error(data.error));
    else pending?.resolve(data.jpeg);
  };
  worker.onerror = (event) => {
    // E.g. a policy that forbids workers: fall back to the canvas for good.
    event.preventDefault();
    worker.terminate();
    worker = null;
    for (const pending of waiting.values()) pending.reject(new Error("JPEG worker failed"));
    waiting.clear();
  };
  return async (video, width, height) => {
    if (worker === null) return onCanvas(video, width, height);
    const bitmap = await createImageBitmap(video, { resizeWidth: width, resizeHeight: height });
    const id = ++next;
    return new Promise((resolve, reject) => {
      waiting.set(id, { resolve, reject });
      worker.postMessage({ id, bitmap, quality }, [bitmap]);
    });
  };
}

// --- when this file runs as the JPEG worker -----------------------------------------------

if (typeof WorkerGlobalScope !== "undefined" && globalThis instanceof WorkerGlobalScope) {
  let canvas = null;
  globalThis.onmessage = async ({ data }) => {
    const { id, bitmap, quality } = data;
    try {
      if (canvas === null || canvas.width !== bitmap.width || canvas.height !== bitmap.height) {
        canvas = new OffscreenCanvas(bitmap.width, bitmap.height);
      }
      canvas.getContext("2d").drawImage(bitmap, 0, 0);
      bitmap.close();
      const blob = await canvas.convertToBlob({ type: "image/jpeg", quality });
      const jpeg = await blob.arrayBuffer();
      globalThis.postMessage({ id, jpeg }, [jpeg]); // transferred, not copied
    } catch (error) {
      globalThis.postMessage({ id, error: String(error) });
    }
  };
}
