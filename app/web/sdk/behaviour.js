/**
 * Behaviour windows (issue 28, docs/behaviour.md): how each answer was entered, never what.
 *
 * Per question and per window of at most 10 s the recorder counts keys pressed and the
 * intervals between them (a histogram with fixed edges, plus the sum and sum of squares of the
 * intervals under 2 s), the characters that reached the answer by typing, by paste or drop,
 * or otherwise (composition, autocorrect, dictation), the pointer's path (distance, strokes,
 * straightness, pauses, time moving, top speed), and input events the browser marks
 * `isTrusted === false` (dispatched by a script). Which keys, the characters and the pointer's
 * positions are never sent. A window closes every 10 s, when the candidate moves to another
 * question, before an answer is recorded and when the SDK stops; a window with nothing in it is
 * not sent.
 *
 * Listeners are passive and only add to counters; the only timer is the 10 s one.
 */

export const WINDOW_MS = 10000;
// The server's histogram edges (actors/behaviour_events.py INTERVAL_EDGES_MS).
export const INTERVAL_EDGES_MS = [0, 50, 75, 100, 125, 150, 200, 250, 300, 400, 500, 750, 1000, 2000];
const PAUSE_MS = 2000;
// A still of this long ends a pointer stroke.
const STILL_MS = 300;
// The server refuses more keydowns than this many a second: a window that would hold more ends
// early (a script's flood then arrives as many windows, rate-limited like any event).
const MAX_KEYS_PER_SECOND = 100;
const PASTED = new Set(["insertFromPaste", "insertFromDrop", "insertFromPasteAsQuotation"]);
const TYPED = new Set(["insertText", "insertLineBreak", "insertParagraph"]);

function bucket(intervalMs) {
  let index = 0;
  while (index + 1 < INTERVAL_EDGES_MS.length && intervalMs >= INTERVAL_EDGES_MS[index + 1]) index += 1;
  return index;
}

function lengthOf(target) {
  if (!target) return null;
  if (typeof target.value === "string") return target.value.length;
  if (target.isContentEditable) return (target.textContent || "").length;
  return null;
}

function answerField(target) {
  if (!(target instanceof Element)) return null;
  const tag = target.tagName;
  if (tag === "TEXTAREA" || (tag === "INPUT" && typeof target.value === "string")) return target;
  return target.isContentEditable ? target : null;
}

class Window {
  constructor(questionId, now) {
    this.questionId = questionId;
    this.start = now;
    this.keydowns = 0;
    this.intervals = new Array(INTERVAL_EDGES_MS.length).fill(0);
    this.burstSum = 0;
    this.burstSumSq = 0;
    this.typed = 0;
    this.pasted = 0;
    this.other = 0;
    this.pastes = 0;
    this.moves = 0;
    this.distance = 0;
    this.displacement = 0;
    this.strokes = 0;
    this.pauses = 0;
    this.movingMs = 0;
    this.maxSpeed = 0;
    this.untrusted = { keyboard: 0, pointer: 0, input: 0 };
    this.field = null;
  }

  empty() {
    return !this.keydowns && !this.typed && !this.pasted && !this.other && !this.pastes &&
      !this.moves && !this.untrusted.keyboard && !this.untrusted.pointer && !this.untrusted.input;
  }

  data(now) {
    let windowMs = Math.max(1, Math.min(WINDOW_MS, Math.round(now - this.start)));
    // Keys pressed together (rollover) can come closer than the server's 100 a second allows
    // over a very short window: such a window is reported as long as its keys need.
    const need = Math.ceil(((this.keydowns - 1) * 1000) / MAX_KEYS_PER_SECOND);
    windowMs = Math.min(WINDOW_MS, Math.max(windowMs, need));
    const data = { windowMs };
    if (this.keydowns) {
      data.keys = {
        keydowns: this.keydowns,
        intervals: this.intervals,
        burstSumMs: this.burstSum,
        burstSumSqMs: this.burstSumSq,
      };
    }
    const length = lengthOf(this.field);
    if (this.typed || this.pasted || this.other || this.pastes || length !== null) {
      data.text = {
        charsTyped: this.typed,
        charsPasted: this.pasted,
        charsOther: this.other,
        pastes: this.pastes,
        answerLength: length ?? 0,
      };
    }
    if (this.moves) {
      // A window's first step may have begun in the window before: its time can exceed this
      // window's length, which bounds movingMs; the top speed is then at least the mean.
      const movingMs = Math.min(windowMs, Math.ceil(this.movingMs));
      const distancePx = round2(this.distance);
      const mean = movingMs ? distancePx / (movingMs / 1000) : 0;
      data.pointer = {
        moves: this.moves,
        distancePx,
        // Rounded down, so a chord never comes out longer than its rounded path.
        displacementPx: Math.min(distancePx, Math.floor(this.displacement * 100) / 100),
        strokes: Math.max(this.strokes, this.distance > 0 ? 1 : 0),
        pauses: this.pauses,
        movingMs,
        // Rounded up, plus a cent: never below the mean the server works out from these.
        maxSpeedPxPerS: Math.ceil(Math.max(this.maxSpeed, mean) * 100) / 100 + 0.01,
      };
    }
    const { keyboard, pointer, input } = this.untrusted;
    if (keyboard || pointer || input) data.untrusted = { keyboard, pointer, input };
    return data;
  }
}

function round2(value) {
  return Math.round(value * 100) / 100;
}

/**
 * Watches the page for one client; `send(questionId, data)` records a `behaviour_window`.
 * `questionId()` says which question the candidate is on (null: no window is kept).
 */
export class BehaviourRecorder {
  constructor(send, questionId, target = globalThis.document) {
    this._send = send;
    this._questionId = questionId;
    this._window = null;
    this._lastKey = null; // performance.now() of the last keydown, across windows
    this._point = null; // {x, y, t} of the last pointer sample
    this._strokeStart = null; // {x, y} where the open stroke began in this window
    this._before = new WeakMap(); // answer field -> its length before the input
    this._controller = new AbortController();
    const on = (type, handler) => target?.addEventListener(type, handler,
      { signal: this._controller.signal, passive: true, capture: true });
    on("keydown", (event) => this._onKey(event));
    on("beforeinput", (event) => this._onBeforeInput(event));
    on("input", (event) => this._onInput(event));
    on("pointermove", (event) => this._onPointer(event));
    for (const type of ["pointerdown", "pointerup", "click", "mousedown", "mouseup"]) {
      on(type, (event) => { if (!event.isTrusted) this._untrusted("pointer"); });
    }
    this._timer = setInterval(() => this.flush(), WINDOW_MS);
  }

  /** Close the open window (if it holds anything) and send it. */
  flush() {
    const window = this._window;
    if (window === null) return;
    const now = performance.now();
    this._closeStroke();
    this._window = null;
    this._strokeStart = null;
    if (!window.empty()) this._send(window.questionId, window.data(now));
  }

  stop() {
    this.flush();
    clearInterval(this._timer);
    this._controller.abort();
  }

  _current() {
    const questionId = this._questionId();
    if (questionId === null || questionId === undefined) return null;
    if (this._window !== null && this._window.questionId !== String(questionId)) this.flush();
    if (this._window === null) this._window = new Window(String(questionId), performance.now());
    return this._window;
  }

  _untrusted(kind) {
    const window = this._current();
    if (window !== null) window.untrusted[kind] += 1;
  }

  _onKey(event) {
    if (event.repeat) return; // a held key: the keyboard's repeat rate, not the person's rhythm
    let window = this._current();
    if (window === null) return;
    const now = performance.now();
    const most = Math.floor((WINDOW_MS * MAX_KEYS_PER_SECOND) / 1000) + 1;
    if (window.keydowns + 1 > most) {
      this.flush();
      window = this._current();
    }
    if (!event.isTrusted) window.untrusted.keyboard += 1;
    window.keydowns += 1;
    if (this._lastKey !== null) {
      const interval = Math.max(0, Math.round(now - this._lastKey));
      window.intervals[bucket(interval)] += 1;
      if (interval < PAUSE_MS) {
        window.burstSum += interval;
        window.burstSumSq += interval * interval;
      }
    }
    this._lastKey = now;
  }

  _onBeforeInput(event) {
    const field = answerField(event.target);
    if (field !== null) this._before.set(field, lengthOf(field));
  }

  _onInput(event) {
    const field = answerField(event.target);
    const window = this._current();
    if (field === null || window === null) return;
    window.field = field;
    if (!event.isTrusted) {
      window.untrusted.input += 1;
      return; // a script's text is nobody's typing: it shows as length nobody entered
    }
    const before = this._before.get(field);
    const after = lengthOf(field);
    this._before.delete(field);
    const kind = event.inputType || "";
    const added = before !== undefined && before !== null && after !== null
      ? Math.max(0, after - before)
      : (typeof event.data === "string" ? event.data.length : 0);
    if (PASTED.has(kind)) {
      window.pasted += added;
      window.pastes += 1;
    } else if (TYPED.has(kind)) {
      window.typed += added;
    } else if (kind.startsWith("insert")) {
      window.other += added; // composition, replacement (autocorrect), dictation
    }
  }

  _onPointer(event) {
    const window = this._current();
    if (window === null) return;
    if (!event.isTrusted) window.untrusted.pointer += 1;
    const point = { x: event.clientX, y: event.clientY, t: event.timeStamp || performance.now() };
    const last = this._point;
    this._point = point;
    window.moves += 1;
    if (last === null) return;
    const gap = point.t - last.t;
    if (this._strokeStart === null || gap >= STILL_MS) {
      if (this._strokeStart !== null) {
        this._closeStroke();
        window.pauses += 1;
      }
      this._strokeStart = { x: last.x, y: last.y };
      window.strokes += 1;
    }
    const step = Math.hypot(point.x - last.x, point.y - last.y);
    window.distance += step;
    // The first step after a still took an unknown part of it: a frame's time, say.
    const dt = gap >= STILL_MS ? 16 : Math.max(1, gap);
    window.movingMs += dt;
    window.maxSpeed = Math.max(window.maxSpeed, step / (dt / 1000));
  }

  _closeStroke() {
    const start = this._strokeStart;
    const window = this._window;
    if (start === null || window === null || this._point === null) return;
    window.displacement += Math.hypot(this._point.x - start.x, this._point.y - start.y);
    this._strokeStart = null;
  }
}
