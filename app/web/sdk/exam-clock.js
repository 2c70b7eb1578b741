/**
 * The exam's time left, by the server's clock (contract section 9.3, docs/protocol.md "Exam
 * control"). The server sends `clock {serverTime, endsAt, secondsLeft, timeUp, paused}` on
 * connecting, when the candidate's extra time changes, when a pause begins or ends and at the time
 * limit; this counts down from the last one with the page's monotonic clock, so a wrong device
 * clock changes nothing. While `paused`, the time left stands still (a pause costs no time).
 *
 *   const vigil = connect({ ..., onClock: ({ secondsLeft, timeUp }) => show(secondsLeft) });
 *   vigil.clock.secondsLeft(); // null for an assessment without a time limit
 */

const now = () => globalThis.performance?.now?.() ?? Date.now();

export class ExamClock {
  /** @param {(c: {secondsLeft: number, endsAt: string, timeUp: boolean, paused: boolean}) => void} [onClock] */
  constructor(onClock) {
    this._onClock = onClock;
    this._last = null; // {secondsLeft, endsAt, timeUp, at}
    this._timer = 0;
  }

  /** The server's `clock` message. */
  update(message) {
    if (typeof message?.secondsLeft !== "number") return;
    this._last = {
      secondsLeft: message.secondsLeft, endsAt: message.endsAt, timeUp: !!message.timeUp,
      paused: !!message.paused, at: now(),
    };
    this._tick();
    clearInterval(this._timer);
    if (!this._last.timeUp && !this._last.paused) {
      this._timer = setInterval(() => this._tick(), 1000);
    }
  }

  /** Seconds left now, or null when the assessment has no time limit. */
  secondsLeft() {
    if (this._last === null) return null;
    if (this._last.timeUp) return 0;
    if (this._last.paused) return this._last.secondsLeft;
    return Math.max(0, this._last.secondsLeft - (now() - this._last.at) / 1000);
  }

  /** True while the session is paused: the clock stands still. */
  get paused() {
    return !!this._last?.paused;
  }

  /** When the time is up (ISO UTC, the server's), or null. */
  get endsAt() {
    return this._last?.endsAt ?? null;
  }

  stop() {
    clearInterval(this._timer);
  }

  _tick() {
    const left = this.secondsLeft();
    if (left === null) return;
    const timeUp = this._last.timeUp || left <= 0;
    if (timeUp) clearInterval(this._timer);
    try {
      this._onClock?.({
        secondsLeft: Math.round(left), endsAt: this._last.endsAt, timeUp, paused: this._last.paused,
      });
    } catch (error) {
      console.error("vigil: onClock threw", error);
    }
  }
}
