/**
 * The screen for `connect({..., screen: true})` (issue 24, contract section 9.2).
 *
 * Asks for the whole screen (`getDisplayMedia`); a shared tab or window instead is refused: its
 * tracks are stopped and `screen_recording_stopped` {reason: "not_whole_screen"} is recorded.
 * `MediaRecorder` cuts the recording into chunks every `screenChunkMs` (5 s), uploaded in order
 * by `PUT /candidate-sessions/:id/screen-recording/chunks/<n>` with the candidate token. A chunk
 * is dropped from memory only once the server answered; after a network loss the same chunk is
 * sent again (the server stores it once), so nothing is lost and nothing is stored twice. The
 * candidate having several screens (`screen.isExtended`) records `multiple_monitors_detected`
 * (MULTIPLE_MONITORS, MEDIUM). The share ending before `submit()` records `screen_recording_stopped` {reason: "share_ended"}
 * (RECORDING_FAILURE, HIGH). A full quota (507) stops recording, never the exam.
 *
 * The upload is a plain HTTP request to the Vigil server, from the page's own origin or from any
 * in `[server] allowed_origins` (the server answers the SDK's CORS preflight).
 *
 * Offline, chunks wait in memory up to `screenBufferBytes` (64 MB, about half an hour at the
 * default bit rate); past it recording stops, with `screen_recording_stopped`
 * {reason: "buffer_full"}, rather than the tab running out of memory. No chunk is dropped: what
 * was recorded (the recorder's last chunk included) is uploaded once the network is back.
 */

const RETRY_MIN_MS = 500;
const RETRY_MAX_MS = 10000;
const BUFFER_BYTES = 64 * 1024 * 1024;

export class ScreenRecorder {
  constructor(client, options) {
    this.client = client;
    this.options = options;
    this.chunkMs = options.screenChunkMs ?? 5000;
    this.bitsPerSecond = options.screenBitsPerSecond ?? 300000;
    this.bufferBytes = options.screenBufferBytes ?? BUFFER_BYTES;
    this.buffered = 0; // bytes in queue
    this.stream = null;
    this.recorder = null;
    this.queue = []; // Blobs not yet acknowledged, oldest first
    this.next = 0; // the number of queue[0]
    this.uploading = false;
    this.retryMs = RETRY_MIN_MS;
    this.stopped = false;
    this.full = false;
    this.stats = { uploaded: 0, bytes: 0, retries: 0 };
  }

  async start() {
    try {
      this.stream = await navigator.mediaDevices.getDisplayMedia({
        video: { displaySurface: "monitor" },
        audio: false,
        monitorTypeSurfaces: "include",
        selfBrowserSurface: "exclude",
        surfaceSwitching: "exclude",
      });
    } catch (error) {
      this.client.track("screen_recording_stopped", { reason: "denied" }).catch(() => {});
      this.client._fail("screen_unavailable", error);
      return;
    }
    const [track] = this.stream.getVideoTracks();
    const surface = track.getSettings().displaySurface;
    if (surface && surface !== "monitor") {
      this.release();
      this.client.track("screen_recording_stopped", { reason: "not_whole_screen", displaySurface: surface })
        .catch(() => {});
      this.client._fail("screen_not_whole", new Error(`a ${surface} was shared, not the whole screen`));
      return;
    }
    this.watchMonitors();
    track.addEventListener("ended", () => {
      if (this.stopped) return;
      this.client.track("screen_recording_stopped", { reason: "share_ended" }).catch(() => {});
      this.finish();
    });
    const mimeType = MediaRecorder.isTypeSupported("video/webm;codecs=vp8") ? "video/webm;codecs=vp8" : "video/webm";
    this.recorder = new MediaRecorder(this.stream, { mimeType, videoBitsPerSecond: this.bitsPerSecond });
    this.recorder.ondataavailable = (event) => {
      if (!event.data || event.data.size === 0 || this.full) return;
      this.queue.push(event.data); // kept, and the recorder's last chunk after a stop too
      this.buffered += event.data.size;
      if (this.buffered > this.bufferBytes && !this.stopped) {
        this.client.track("screen_recording_stopped", { reason: "buffer_full", bufferedBytes: this.buffered })
          .catch(() => {});
        this.client._fail("screen_buffer_full", new Error("the screen recording could not be uploaded in time"));
        this.finish();
      }
      this.pump();
    };
    this.recorder.start(this.chunkMs);
  }

  /** `screen.isExtended`: more than one screen, at the start and whenever it becomes so. */
  watchMonitors() {
    let extended = false;
    const check = () => {
      const now = globalThis.screen?.isExtended === true;
      if (now && !extended && !this.stopped) {
        this.client.track("multiple_monitors_detected").catch(() => {});
      }
      extended = now;
    };
    check();
    globalThis.screen?.addEventListener?.("change", check);
  }

  async pump() {
    if (this.uploading || this.queue.length === 0 || this.full) return;
    this.uploading = true;
    try {
      while (this.queue.length > 0 && !this.full) {
        const answer = await this.upload(this.next, this.queue[0]);
        if (answer === null) return this.retrySoon();
        this.retryMs = RETRY_MIN_MS;
        this.stats.uploaded += 1;
        this.stats.bytes = answer.fileSize;
        this.buffered -= this.queue.shift().size;
        this.next += 1;
      }
    } finally {
      this.uploading = false;
    }
  }

  /** @returns {Promise<object|null>} the server's answer, or null to try again later */
  async upload(n, blob) {
    const { sessionId, token } = this.options;
    const url = `${httpBase(this.options.url)}/candidate-sessions/${encodeURIComponent(sessionId)}` +
      `/screen-recording/chunks/${n}`;
    let response;
    try {
      response = await fetch(url, {
        method: "PUT",
        headers: { authorization: `Bearer ${token}`, "content-type": "video/webm" },
        body: blob,
      });
    } catch {
      return null; // offline: the same chunk goes again
    }
    if (response.ok) return response.json();
    if (response.status === 507) {
      this.full = true;
      this.queue = [];
      this.buffered = 0;
      this.recorder?.state === "recording" && this.recorder.stop();
      this.client._fail("screen_quota", new Error("the screen recording reached its quota"));
      return { fileSize: this.stats.bytes };
    }
    if (response.status >= 500 || response.status === 429) return null;
    const body = await response.json().catch(() => ({}));
    this.client._fail("screen_upload", new Error(body.error?.message || `HTTP ${response.status}`));
    return { fileSize: this.stats.bytes }; // a refused chunk is not sent again
  }

  retrySoon() {
    this.stats.retries += 1;
    this.uploading = false;
    setTimeout(() => this.pump(), this.retryMs);
    this.retryMs = Math.min(RETRY_MAX_MS, this.retryMs * 2);
  }

  /** Stop recording; what is recorded still uploads. */
  finish() {
    this.stopped = true;
    if (this.recorder?.state === "recording") this.recorder.stop(); // its last chunk follows
    this.release();
  }

  /** The chunks not yet acknowledged. */
  get pending() {
    return this.queue.length;
  }

  release() {
    for (const track of this.stream?.getTracks() ?? []) track.stop();
  }
}

function httpBase(base) {
  const url = new URL(base || globalThis.location.origin);
  if (url.protocol === "ws:") url.protocol = "http:";
  else if (url.protocol === "wss:") url.protocol = "https:";
  return `${url.origin}${url.pathname.replace(/\/+$/, "")}`;
}
