// The one load generator of benchmarks/compare.py: the same candidates, admins, event mix, rate
// and measurement for every system; only the transport adapter differs (adapters.js).
//
//   node generator/main.js            (driven by compare.py over stdin/stdout, JSON lines)
//
// In:  the config (first line), then {"cmd": "admins"}, {"cmd": "candidates"},
//      {"cmd": "step", "rate", "warmup", "duration", "drain"}, {"cmd": "quit"}.
// Out: {"event": "config"|"admins"|"candidates"|"edge"|"step"|"bye"|"fatal", ...}.
// Every event carries data.sentNs, this process's monotonic clock at send; the admin side reads
// it back on arrival, so send->admin latency needs no clock shared between processes.
"use strict";

const readline = require("node:readline");
const { makeAdapter } = require("./adapters");
const { Step, nowNs, isoNow } = require("./step");

const TICK_MS = 1;
const MAX_BACKLOG_S = 0.2; // past this the generator skips events rather than bursting them

const out = (message) => process.stdout.write(`${JSON.stringify(message)}\n`);

class Generator {
  constructor(config) {
    this.config = config;
    this.candidates = config.sessions.map(([id, token]) => ({ id, token, seq: 0, sentNs: [] }));
    this.admins = [];
    this.step = null;
    this.adapter = makeAdapter(config, this);
    this.turn = 0;
  }

  // --- called by the adapters ----------------------------------------------------------------

  delivered(admin, sentNs) {
    const t = nowNs();
    admin.seen += 1;
    if (this.step !== null) this.step.delivered(admin.index, sentNs, t);
  }

  acked(sentNs) {
    if (this.step !== null) this.step.acked(sentNs, nowNs());
  }

  error(code) {
    if (this.step !== null) this.step.count("errors", code);
  }

  closed(kind, why) {
    if (this.step !== null) this.step.count(kind, why);
  }

  // --- commands ------------------------------------------------------------------------------

  async connectAdmins() {
    const began = nowNs();
    for (let i = 0; i < this.config.admins; i += 1) {
      const admin = { index: i, seen: 0 };
      await this.adapter.connectAdmin(admin);
      this.admins.push(admin);
    }
    return { connected: this.admins.length, seconds: (nowNs() - began) / 1e9 };
  }

  async connectCandidates() {
    const began = nowNs();
    const errors = [];
    let next = 0;
    const worker = async () => {
      while (next < this.candidates.length) {
        const candidate = this.candidates[next];
        next += 1;
        const first = this.firstEvent(candidate);
        for (let attempt = 0; attempt < 3; attempt += 1) {
          try {
            await this.adapter.connectCandidate(candidate, first);
            break;
          } catch (error) {
            if (attempt === 2) errors.push(String(error && error.message ? error.message : error));
            await new Promise((resolve) => setTimeout(resolve, 100 * (attempt + 1)));
          }
        }
      }
    };
    const concurrency = Math.max(1, this.config.connectConcurrency || 50);
    await Promise.all(Array.from({ length: concurrency }, worker));
    const connected = this.candidates.filter((c) => c.ready).length;
    return {
      connected,
      failed: this.candidates.length - connected,
      firstError: errors[0] || "",
      seconds: (nowNs() - began) / 1e9,
    };
  }

  firstEvent(candidate) {
    // seq 1 is a heartbeat sent while connecting: its answer proves the system took it.
    const sentNs = nowNs();
    candidate.seq = 1;
    candidate.sentNs.push(sentNs);
    return { kind: "heartbeat", questionId: null, ts: isoNow(), sentNs, seq: 1 };
  }

  async runStep({ rate, warmup, duration, drain }) {
    const live = this.candidates.filter((c) => c.ready);
    const t0 = nowNs() + 100e6;
    const step = new Step(rate, t0, t0 + warmup * 1e9, t0 + (warmup + duration) * 1e9, this.admins);
    this.step = step;
    setTimeout(() => out({ event: "edge", name: "start" }), (step.w0 - nowNs()) / 1e6);
    await this.pace(step, live);
    out({ event: "edge", name: "end" }); // the sending stops at the window's end
    const drained = await this.drain(step, drain);
    this.step = null;
    return step.result(drained, this.adapter.hasAcks);
  }

  pace(step, live) {
    const mix = this.config.mix;
    const perNs = step.rate / 1e9;
    const maxBacklog = Math.max(1, Math.floor(step.rate * MAX_BACKLOG_S));
    let scheduled = 0;
    let ts = isoNow();
    let tsAt = 0;
    return new Promise((resolve) => {
      const tick = () => {
        const now = nowNs();
        if (now >= step.w1 || live.length === 0) {
          resolve();
          return;
        }
        if (now >= step.t0) {
          if (now - tsAt > 100e6) {
            ts = isoNow();
            tsAt = now;
          }
          let due = Math.floor((now - step.t0) * perNs) - scheduled;
          if (due > maxBacklog) {
            step.skipped += due - maxBacklog;
            scheduled += due - maxBacklog;
            due = maxBacklog;
          }
          scheduled += due;
          for (let i = 0; i < due; i += 1) {
            const candidate = live[this.turn % live.length];
            const [kind, questionId] = mix[this.turn % mix.length];
            this.turn += 1;
            const sentNs = nowNs();
            const event = { kind, questionId, ts, sentNs, seq: candidate.seq + 1 };
            if (this.adapter.send(candidate, event)) {
              candidate.seq += 1;
              step.sent(sentNs);
            } else {
              step.skipped += 1;
            }
          }
        }
        setTimeout(tick, TICK_MS);
      };
      setTimeout(tick, Math.max(0, (step.t0 - nowNs()) / 1e6));
    });
  }

  async drain(step, seconds) {
    const deadline = nowNs() + seconds * 1e9;
    while (nowNs() < deadline) {
      if (step.complete(this.adapter.hasAcks)) return true;
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    return step.complete(this.adapter.hasAcks);
  }
}

async function main() {
  const lines = readline.createInterface({ input: process.stdin });
  let generator = null;
  for await (const line of lines) {
    if (!line.trim()) continue;
    const message = JSON.parse(line);
    if (generator === null) {
      generator = new Generator(message);
      out({ event: "config", system: message.system, candidates: generator.candidates.length });
      continue;
    }
    switch (message.cmd) {
      case "admins":
        out({ event: "admins", ...(await generator.connectAdmins()) });
        break;
      case "candidates":
        out({ event: "candidates", ...(await generator.connectCandidates()) });
        break;
      case "step":
        out({ event: "step", ...(await generator.runStep(message)) });
        break;
      case "quit":
        await generator.adapter.close();
        out({ event: "bye" });
        process.exit(0);
        break;
      default:
        throw new Error(`expected a cmd of admins, candidates, step or quit, got ${line}`);
    }
  }
}

main().catch((error) => {
  out({ event: "fatal", message: String(error && error.stack ? error.stack : error) });
  process.exit(1);
});
