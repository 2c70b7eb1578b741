// The transports of the three systems, behind one interface:
//   connectAdmin(admin), connectCandidate(candidate, firstEvent), send(candidate, event), close()
// and `hasAcks` (whether the candidate side hears back per event).
// - vigil: candidate WebSocket per CONTRACT.md (seq, ack), admin WebSocket subscribed to the
//   assessment channel;
// - seed-pipeline: an HTTP POST per event on a keep-alive connection per candidate (its answer
//   is the acknowledgement), admin Socket.IO clients;
// - socketio-relay: candidate Socket.IO emits (no acknowledgement), admin Socket.IO clients.
"use strict";

const WebSocket = require("ws");
const { Client } = require("undici");
const { io } = require("socket.io-client");

const CONNECT_TIMEOUT_MS = 10000;
const JSON_HEADERS = { "content-type": "application/json" };

function vigilFrame(event) {
  const question = event.questionId ? `"questionId":"${event.questionId}",` : "";
  return `{"type":"${event.kind}","seq":${event.seq},"ts":"${event.ts}",${question}"data":{"sentNs":${event.sentNs}}}`;
}

function peerEvent(assessmentId, sessionId, event) {
  const body = { sessionId, assessmentId, type: event.kind, seq: event.seq, ts: event.ts };
  if (event.questionId) body.questionId = event.questionId;
  body.data = { sentNs: event.sentNs };
  return body;
}

function withTimeout(what, executor) {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`${what}: no answer in ${CONNECT_TIMEOUT_MS} ms`)), CONNECT_TIMEOUT_MS);
    executor(
      (value) => {
        clearTimeout(timer);
        resolve(value);
      },
      (error) => {
        clearTimeout(timer);
        reject(error);
      },
    );
  });
}

// --- admins over Socket.IO (both peers) ---------------------------------------------------------

class SocketIoAdmins {
  constructor(config, sink) {
    this.config = config;
    this.sink = sink;
    this.sockets = [];
    this.closing = false;
  }

  connectAdmin(admin) {
    return withTimeout("admin subscribe", (resolve, reject) => {
      const socket = io(this.config.adminUrl, { transports: ["websocket"], forceNew: true });
      this.sockets.push(socket);
      let first = true;
      // On every (re)connection: join the room again.
      socket.on("connect", () =>
        socket.emit("subscribe", this.config.assessmentId, () => {
          if (first) {
            first = false;
            resolve();
          }
        }),
      );
      socket.on("event", (event) => this.sink.delivered(admin, event.data.sentNs));
      socket.on("disconnect", (reason) => {
        if (!this.closing) this.sink.closed("adminCloses", reason);
      });
      socket.on("connect_error", (error) => {
        if (first) reject(error);
      });
    });
  }

  closeAdmins() {
    this.closing = true;
    for (const socket of this.sockets) socket.close();
  }
}

// --- Vigil --------------------------------------------------------------------------------------

class VigilAdapter {
  constructor(config, sink) {
    this.config = config;
    this.sink = sink;
    this.hasAcks = true;
    this.sockets = new Set();
    this.closing = false;
  }

  connectAdmin(admin) {
    const { wsBase, adminToken, assessmentId } = this.config;
    return withTimeout("admin subscribe", (resolve, reject) => {
      const open = () => {
        const ws = new WebSocket(`${wsBase}/ws/admin?token=${adminToken}`, { perMessageDeflate: false });
        this.sockets.add(ws);
        let subscribed = false;
        ws.on("open", () => ws.send(JSON.stringify({ type: "subscribe", channel: `assessment:${assessmentId}` })));
        ws.on("message", (data) => {
          const text = data.toString();
          if (!subscribed) {
            subscribed = text.startsWith('{"type":"snapshot"');
            if (subscribed) resolve();
            return;
          }
          if (!text.startsWith('{"type":"event"')) return; // state changes carry no event
          const at = text.indexOf('"sentNs":');
          if (at >= 0) this.sink.delivered(admin, parseInt(text.slice(at + 9, at + 32), 10));
        });
        ws.on("close", (code, reason) => {
          this.sockets.delete(ws);
          if (this.closing) return;
          this.sink.closed("adminCloses", `${code} ${reason}`.trim());
          setTimeout(open, 100); // an evicted admin subscribes again (fresh snapshot)
        });
        ws.on("error", (error) => {
          if (!subscribed) reject(error);
        });
      };
      open();
    });
  }

  connectCandidate(candidate, first) {
    const { wsBase } = this.config;
    return withTimeout("candidate seq 1 ack", (resolve, reject) => {
      const url = `${wsBase}/ws/candidate/${candidate.id}?token=${candidate.token}`;
      const ws = new WebSocket(url, { perMessageDeflate: false });
      this.sockets.add(ws);
      candidate.acked = 0;
      ws.on("open", () => ws.send(vigilFrame(first)));
      ws.on("message", (data) => {
        const text = data.toString();
        if (text.startsWith('{"type":"ack"')) {
          this.onAck(candidate, JSON.parse(text).seq);
          if (!candidate.ready && candidate.acked >= 1) {
            candidate.ready = true;
            candidate.ws = ws;
            resolve();
          }
        } else if (text.startsWith('{"type":"error"')) {
          this.sink.error(JSON.parse(text).code || "?");
        }
      });
      ws.on("close", (code, reason) => {
        this.sockets.delete(ws);
        if (candidate.ws === ws) {
          candidate.ws = null;
          if (!this.closing) this.sink.closed("candidateCloses", `${code} ${reason}`.trim());
        }
        if (!candidate.ready) reject(new Error(`closed ${code} ${reason}`));
      });
      ws.on("error", (error) => {
        if (!candidate.ready) reject(error);
      });
    });
  }

  onAck(candidate, seq) {
    const sent = candidate.sentNs;
    const upTo = Math.min(seq, sent.length);
    for (let i = candidate.acked; i < upTo; i += 1) this.sink.acked(sent[i]);
    if (upTo > candidate.acked) candidate.acked = upTo;
  }

  send(candidate, event) {
    const ws = candidate.ws;
    if (!ws || ws.readyState !== WebSocket.OPEN) return false;
    candidate.sentNs.push(event.sentNs);
    ws.send(vigilFrame(event));
    return true;
  }

  async close() {
    this.closing = true;
    for (const ws of this.sockets) ws.close();
    await new Promise((resolve) => setTimeout(resolve, 300));
  }
}

// --- seed-pipeline: HTTP POST per event ---------------------------------------------------------

class SeedAdapter extends SocketIoAdmins {
  constructor(config, sink) {
    super(config, sink);
    this.hasAcks = true;
    this.clients = [];
  }

  async connectCandidate(candidate, first) {
    if (!candidate.client) {
      // One keep-alive connection per candidate, as one browser tab has; requests queue on it.
      candidate.client = new Client(this.config.httpBase, { pipelining: 1 });
      this.clients.push(candidate.client);
    }
    if (!(await this.post(candidate, first))) throw new Error("the first POST failed");
    candidate.ready = true;
  }

  post(candidate, event) {
    const body = JSON.stringify(peerEvent(this.config.assessmentId, candidate.id, event));
    return candidate.client.request({ path: "/events", method: "POST", headers: JSON_HEADERS, body }).then(
      async ({ statusCode, body: answer }) => {
        await answer.dump();
        if (statusCode !== 200) {
          this.sink.error(`HTTP ${statusCode}`);
          return false;
        }
        this.sink.acked(event.sentNs);
        return true;
      },
      (error) => {
        this.sink.error(error.code || error.message);
        return false;
      },
    );
  }

  send(candidate, event) {
    this.post(candidate, event);
    return true;
  }

  async close() {
    this.closeAdmins();
    await Promise.all(this.clients.map((client) => client.destroy()));
  }
}

// --- socketio-relay: Socket.IO emit per event ---------------------------------------------------

class RelayAdapter extends SocketIoAdmins {
  constructor(config, sink) {
    super(config, sink);
    this.hasAcks = false;
    this.candidateSockets = [];
  }

  connectCandidate(candidate, first) {
    return withTimeout("candidate connect", (resolve, reject) => {
      // forceNew: one connection per candidate (io() would multiplex them all over one).
      const socket = io(this.config.adminUrl, { transports: ["websocket"], forceNew: true });
      this.candidateSockets.push(socket);
      socket.once("connect", () => {
        candidate.socket = socket;
        candidate.ready = true;
        socket.emit("event", peerEvent(this.config.assessmentId, candidate.id, first));
        resolve();
      });
      socket.on("disconnect", (reason) => {
        if (!this.closing) this.sink.closed("candidateCloses", reason);
      });
      socket.once("connect_error", (error) => {
        if (!candidate.ready) {
          socket.close();
          reject(error);
        }
      });
    });
  }

  send(candidate, event) {
    if (!candidate.socket.connected) return false;
    candidate.socket.emit("event", peerEvent(this.config.assessmentId, candidate.id, event));
    return true;
  }

  async close() {
    this.closeAdmins();
    for (const socket of this.candidateSockets) socket.close();
    await new Promise((resolve) => setTimeout(resolve, 300));
  }
}

function makeAdapter(config, sink) {
  switch (config.system) {
    case "vigil":
      return new VigilAdapter(config, sink);
    case "seed-pipeline":
      return new SeedAdapter(config, sink);
    case "socketio-relay":
      return new RelayAdapter(config, sink);
    default:
      throw new Error(`expected system vigil, seed-pipeline or socketio-relay, got ${config.system}`);
  }
}

module.exports = { makeAdapter };
