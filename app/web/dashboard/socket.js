// The admin WebSocket (CONTRACT.md section 5): keeps the wanted channels subscribed across drops,
// reconnecting with backoff, and matches each command to its reply.

import { CLOSE, CLOSE_CODES } from "../sdk/protocol.js";

// The server's close codes (generated from actors/protocol_codes.py). A terminal one means the
// token is refused (a wrong token stays wrong); TOO_SLOW means this page fell behind and was
// evicted: a new subscription brings a fresh snapshot.
export const CLOSE_FORBIDDEN = CLOSE.FORBIDDEN;
export const CLOSE_SLOW = CLOSE.TOO_SLOW;

const BACKOFF_FIRST_MS = 500;
const BACKOFF_MAX_MS = 15000;
// Every command gets exactly one of these, in the order the commands were sent.
const REPLY_TYPES = new Set(["snapshot", "unsubscribed", "intervened", "error"]);

export class AdminSocket {
  /**
   * onMessage(message): every message, replies included.
   * onStatus({state, delayMs?, code?, reconnects}): "connecting" | "live" | "waiting".
   * onRefused(code): the server refused the token; the socket has stopped.
   */
  constructor({ token, onMessage, onStatus, onRefused }) {
    this.token = token;
    this.onMessage = onMessage;
    this.onStatus = onStatus;
    this.onRefused = onRefused;
    this.channels = new Set();
    this.pending = [];
    this.ws = null;
    this.attempt = 0;
    this.reconnects = 0;
    this.timer = null;
    this.stopped = false;
    this.online = () => this.retryNow();
  }

  start() {
    window.addEventListener("online", this.online);
    this.open();
  }

  stop() {
    this.stopped = true;
    window.removeEventListener("online", this.online);
    clearTimeout(this.timer);
    if (this.ws) this.ws.close(1000, "signed out");
    this.ws = null;
    this.failPending("signed out");
  }

  /** Keep `channel` subscribed (now, and again after every reconnect). */
  subscribe(channel) {
    this.channels.add(channel);
    return this.isOpen() ? this.request({ type: "subscribe", channel }) : Promise.resolve(null);
  }

  unsubscribe(channel) {
    this.channels.delete(channel);
    if (this.isOpen()) this.request({ type: "unsubscribe", channel }).catch(() => {});
  }

  /** Send a command; resolves with its reply (which may be {type: "error"}). */
  request(command) {
    if (!this.isOpen()) return Promise.reject(new Error("not connected to the server"));
    return new Promise((resolve, reject) => {
      this.pending.push({ resolve, reject });
      this.ws.send(JSON.stringify(command));
    });
  }

  isOpen() {
    return this.ws !== null && this.ws.readyState === WebSocket.OPEN;
  }

  retryNow() {
    if (!this.stopped && this.ws === null) {
      clearTimeout(this.timer);
      this.open();
    }
  }

  open() {
    const scheme = location.protocol === "https:" ? "wss:" : "ws:";
    // The token rides in a subprotocol, never in the URL that proxies and servers log; one a
    // subprotocol cannot carry (not an HTTP token) goes in `?token=`.
    const safe = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/.test(this.token);
    const query = safe ? "" : `?token=${encodeURIComponent(this.token)}`;
    this.status({ state: "connecting" });
    const url = `${scheme}//${location.host}/ws/admin${query}`;
    const ws = safe ? new WebSocket(url, ["vigil", `vigil.token.${this.token}`]) : new WebSocket(url);
    this.ws = ws;
    ws.addEventListener("open", () => {
      for (const channel of this.channels) {
        this.request({ type: "subscribe", channel }).catch(() => {});
      }
    });
    ws.addEventListener("message", (event) => {
      if (ws === this.ws) this.receive(event.data); // nothing from a socket we let go
    });
    ws.addEventListener("close", (event) => this.closed(ws, event.code));
  }

  receive(text) {
    let message;
    try {
      message = JSON.parse(text);
    } catch {
      return; // the server only sends JSON; anything else is not ours to act on
    }
    if (REPLY_TYPES.has(message.type)) {
      const waiter = this.pending.shift();
      if (waiter) waiter.resolve(message);
      if (message.type === "snapshot" && this.attempt > 0) {
        this.attempt = 0; // subscribed again: the next drop starts the backoff afresh
      }
      if (message.type === "snapshot") this.status({ state: "live" });
    }
    this.onMessage(message);
  }

  closed(ws, code) {
    if (ws !== this.ws) return;
    this.ws = null;
    this.failPending("the connection to the server was lost");
    if (this.stopped) return;
    if (CLOSE_CODES[code]?.reconnect === false) {
      this.stop();
      this.onRefused(code);
      return;
    }
    // Evicted for being slow: come back soon, but keep backing off if it happens again.
    const base = code === CLOSE_SLOW && this.attempt === 0 ? 250 : BACKOFF_FIRST_MS;
    const delay = Math.min(BACKOFF_MAX_MS, base * 2 ** this.attempt);
    const delayMs = Math.round(delay * (0.5 + Math.random() / 2)); // jitter: no thundering herd
    this.attempt += 1;
    this.reconnects += 1;
    this.status({ state: "waiting", delayMs, code });
    this.timer = setTimeout(() => this.open(), delayMs);
  }

  failPending(reason) {
    const waiters = this.pending;
    this.pending = [];
    for (const waiter of waiters) waiter.reject(new Error(reason));
  }

  status(detail) {
    this.onStatus({ ...detail, reconnects: this.reconnects });
  }
}
