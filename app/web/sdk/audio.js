/**
 * The microphone for `connect({..., audio: true})` (issue 24, contract section 9.2).
 *
 * Every second of sound becomes one binary frame on the candidate socket (docs/protocol.md,
 * "Audio"): `VGAU`, a JSON header with this page's measures (RMS level in dBFS and the share of
 * 30 ms frames loud enough above the room's noise floor to be voice), and the 16 kHz PCM itself
 * for each window that looks anomalous and for every `audioConfirmEvery`th window anyway. The
 * server judges the PCM with its own voice-activity detector, so a page that only reports
 * silence is overruled. A microphone that is denied, missing, muted or ended is reported as such
 * (`mic`), once a second until the server can hear it, never taken for a quiet room.
 *
 * Windows are samples, not answers: one that cannot be sent (offline) is not queued.
 */

const MAGIC = [0x56, 0x47, 0x41, 0x55]; // "VGAU"
const RATE = 16000;
const FRAME = (RATE * 30) / 1000; // 30 ms
const SPEECH_RATIO = 0.5; // the server's [audio] speech_ratio default
const LOUD_DBFS = -20; // the server's [audio] loud_dbfs default

export class Microphone {
  constructor(client, options) {
    this.client = client;
    this.windowMs = options.audioWindowMs ?? 1000;
    this.confirmEvery = options.audioConfirmEvery ?? 5;
    this.stream = null;
    this.context = null;
    this.node = null;
    this.buffer = new Float32Array(0);
    this.n = 0;
    this.mic = null; // what to report while there is no sound
    this.timer = 0;
    this.floor = -60; // the room's noise floor, dBFS, followed slowly
    this.stopped = false;
  }

  async start() {
    this.timer = setInterval(() => this.reportState(), this.windowMs);
    try {
      this.stream = await navigator.mediaDevices.getUserMedia({
        audio: { channelCount: 1, echoCancellation: false, noiseSuppression: false, autoGainControl: false },
        video: false,
      });
    } catch (error) {
      this.mic = error && error.name === "NotFoundError" ? "no_device" : "denied";
      this.client._fail("microphone_unavailable", error);
      return;
    }
    if (this.stopped) return this.release();
    const [track] = this.stream.getAudioTracks();
    track.addEventListener("mute", () => { this.mic = "muted"; });
    track.addEventListener("unmute", () => { this.mic = null; });
    track.addEventListener("ended", () => { this.mic = "ended"; });
    this.context = new AudioContext({ sampleRate: RATE });
    const source = this.context.createMediaStreamSource(this.stream);
    // A ScriptProcessor, not a worklet: a worklet's module would need a URL the page's
    // Content-Security-Policy allows; 4096 samples at 16 kHz is a callback every 256 ms.
    this.node = this.context.createScriptProcessor(4096, 1, 1);
    this.node.onaudioprocess = (event) => this.take(event.inputBuffer.getChannelData(0));
    source.connect(this.node);
    this.node.connect(this.context.destination); // (silent: the output buffer stays zero)
    this.context.resume().catch(() => {});
  }

  take(samples) {
    const joined = new Float32Array(this.buffer.length + samples.length);
    joined.set(this.buffer);
    joined.set(samples, this.buffer.length);
    const size = (RATE * this.windowMs) / 1000;
    let start = 0;
    while (joined.length - start >= size) {
      this.send(joined.subarray(start, start + size));
      start += size;
    }
    this.buffer = joined.slice(start);
  }

  send(window) {
    const level = dbfs(window);
    let voiced = 0;
    const frames = Math.floor(window.length / FRAME);
    for (let i = 0; i < frames; i++) {
      const frameLevel = dbfs(window.subarray(i * FRAME, (i + 1) * FRAME));
      if (frameLevel > -50 && frameLevel > this.floor + 12) voiced++;
      // The floor follows quiet frames quickly and loud ones slowly.
      this.floor += (frameLevel - this.floor) * (frameLevel < this.floor ? 0.3 : 0.005);
    }
    const voice = frames ? voiced / frames : 0;
    const n = this.n++;
    const anomalous = voice >= SPEECH_RATIO || level >= LOUD_DBFS;
    const withSound = anomalous || n % this.confirmEvery === 0;
    const header = { n, ms: this.windowMs, rate: RATE, level: round(level), voice: round(voice) };
    this.client._sendFrame(frame(header, withSound ? pcm16(window) : null));
  }

  reportState() {
    if (this.mic !== null) this.client._sendFrame(frame({ n: this.n, mic: this.mic }, null));
  }

  stop() {
    this.stopped = true;
    clearInterval(this.timer);
    this.release();
  }

  release() {
    if (this.node) this.node.onaudioprocess = null;
    this.context?.close().catch(() => {});
    for (const track of this.stream?.getTracks() ?? []) track.stop();
    this.context = this.node = this.stream = null;
  }
}

function dbfs(samples) {
  let sum = 0;
  for (let i = 0; i < samples.length; i++) sum += samples[i] * samples[i];
  const rms = Math.sqrt(sum / Math.max(1, samples.length));
  return rms > 0 ? Math.max(-120, 20 * Math.log10(rms)) : -120;
}

function round(value) {
  return Math.round(value * 1000) / 1000;
}

function pcm16(samples) {
  const out = new DataView(new ArrayBuffer(samples.length * 2));
  for (let i = 0; i < samples.length; i++) {
    const clipped = Math.max(-1, Math.min(1, samples[i]));
    out.setInt16(i * 2, clipped < 0 ? clipped * 0x8000 : clipped * 0x7fff, true);
  }
  return new Uint8Array(out.buffer);
}

function frame(header, pcm) {
  const json = new TextEncoder().encode(JSON.stringify(header));
  const out = new Uint8Array(6 + json.length + (pcm ? pcm.length : 0));
  out.set(MAGIC, 0);
  out[4] = json.length & 0xff;
  out[5] = json.length >> 8;
  out.set(json, 6);
  if (pcm) out.set(pcm, 6 + json.length);
  return out;
}
