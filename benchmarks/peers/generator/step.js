// What one paced step counts: sends, acknowledgements and admin deliveries, in the measured
// window and in the whole step, and the latencies of the events sent in the window.
"use strict";

const { performance } = require("node:perf_hooks");

const nowNs = () => Math.round(performance.now() * 1e6);

function isoNow() {
  return new Date().toISOString(); // 2026-01-15T10:25:30.123Z
}

function percentiles(samples) {
  if (samples.length === 0) return null;
  const sorted = Float64Array.from(samples).sort();
  const at = (q) => sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1))] / 1e6;
  return { n: sorted.length, p50: at(0.5), p99: at(0.99), p999: at(0.999), max: at(1) };
}

class Step {
  constructor(rate, t0, w0, w1, admins) {
    this.rate = rate;
    this.t0 = t0;
    this.w0 = w0;
    this.w1 = w1;
    this.sentStep = 0;
    this.sentWindow = 0;
    this.skipped = 0;
    this.ackedStep = 0;
    this.ackedWindow = 0;
    this.latencies = [];
    this.ackLatencies = [];
    this.deliveredStep = admins.map(() => 0);
    this.deliveredWindow = admins.map(() => 0);
    this.counts = { errors: {}, candidateCloses: {}, adminCloses: {} };
  }

  sent(sentNs) {
    this.sentStep += 1;
    if (sentNs >= this.w0 && sentNs < this.w1) this.sentWindow += 1;
  }

  delivered(admin, sentNs, now) {
    if (sentNs < this.t0) return; // an earlier step's, or the connect phase's
    this.deliveredStep[admin] += 1;
    if (sentNs >= this.w0 && sentNs < this.w1) this.latencies.push(now - sentNs);
    if (now >= this.w0 && now < this.w1) this.deliveredWindow[admin] += 1;
  }

  acked(sentNs, now) {
    if (sentNs < this.t0) return;
    this.ackedStep += 1;
    if (sentNs >= this.w0 && sentNs < this.w1) this.ackLatencies.push(now - sentNs);
    if (now >= this.w0 && now < this.w1) this.ackedWindow += 1;
  }

  count(kind, key) {
    const table = this.counts[kind];
    table[key] = (table[key] || 0) + 1;
  }

  complete(hasAcks) {
    if (hasAcks && this.ackedStep < this.sentStep) return false;
    return this.deliveredStep.every((n) => n >= this.sentStep);
  }

  result(drained, hasAcks) {
    const windowS = (this.w1 - this.w0) / 1e9;
    const minDelivered = this.deliveredStep.length ? Math.min(...this.deliveredStep) : 0;
    return {
      rate: this.rate,
      windowS,
      sentStep: this.sentStep,
      sentWindow: this.sentWindow,
      skipped: this.skipped,
      deliveredWindow: this.deliveredWindow.length ? Math.min(...this.deliveredWindow) : 0,
      lost: Math.max(0, this.sentStep - minDelivered),
      ackedWindow: hasAcks ? this.ackedWindow : null,
      unacked: hasAcks ? Math.max(0, this.sentStep - this.ackedStep) : null,
      latency: percentiles(this.latencies),
      ackLatency: hasAcks ? percentiles(this.ackLatencies) : null,
      drained,
      ...this.counts,
    };
  }
}

module.exports = { Step, nowNs, isoNow, percentiles };
