// The verification score (0-100) and the risk score (0-1) over the session's events, as an
// inline SVG; points are [offset, ts, verificationScore, riskScore] like the report's
// ledger.timeline.

const SVG = "http://www.w3.org/2000/svg";
const WIDTH = 640;
const HEIGHT = 180;
const PAD = { left: 34, right: 40, top: 12, bottom: 24 };
const MAX_POINTS = 600; // drawn; older points are thinned, never the newest

function svg(tag, attrs = {}, text = "") {
  const node = document.createElementNS(SVG, tag);
  for (const [key, value] of Object.entries(attrs)) node.setAttribute(key, String(value));
  if (text) node.textContent = text;
  return node;
}

export class ScoreChart {
  constructor(container, caption) {
    this.container = container;
    this.caption = caption;
    this.points = new Map(); // offset -> point
    this.frame = 0;
  }

  reset(points = []) {
    this.points = new Map(points.map((p) => [p[0], p]));
    this.draw();
  }

  /** The stored history; points already received live are kept. */
  merge(points) {
    for (const point of points) if (!this.points.has(point[0])) this.points.set(point[0], point);
    this.draw();
  }

  /** One more point (a live event's state); drawn at the next frame. */
  add(offset, ts, verificationScore, riskScore) {
    this.points.set(offset, [offset, ts, verificationScore, riskScore]);
    if (!this.frame) {
      this.frame = requestAnimationFrame(() => {
        this.frame = 0;
        this.draw();
      });
    }
  }

  sorted() {
    let points = [...this.points.values()].sort((a, b) => a[0] - b[0]);
    if (points.length > MAX_POINTS) {
      const step = points.length / MAX_POINTS;
      const thinned = [];
      for (let i = 0; i < MAX_POINTS - 1; i++) thinned.push(points[Math.floor(i * step)]);
      thinned.push(points[points.length - 1]);
      points = thinned;
    }
    return points;
  }

  draw() {
    const points = this.sorted();
    const root = svg("svg", {
      viewBox: `0 0 ${WIDTH} ${HEIGHT}`,
      class: "score-chart",
      role: "img",
      "aria-labelledby": "score-chart-title",
    });
    root.append(svg("title", { id: "score-chart-title" }, this.describe(points)));
    const x0 = PAD.left;
    const x1 = WIDTH - PAD.right;
    const y = (fraction) => PAD.top + (1 - fraction) * (HEIGHT - PAD.top - PAD.bottom);
    for (const f of [0, 0.5, 1]) {
      root.append(svg("line", { x1: x0, x2: x1, y1: y(f), y2: y(f), class: "grid" }));
      const at = y(f) + 4;
      const label = String(f * 100);
      root.append(svg("text", { x: x0 - 6, y: at, class: "axis verification-axis" }, label));
      root.append(svg("text", { x: x1 + 6, y: at, class: "axis risk-axis" }, f.toFixed(1)));
    }
    if (points.length) {
      const first = points[0][0];
      const span = Math.max(1, points[points.length - 1][0] - first);
      const x = (offset) => x0 + ((offset - first) / span) * (x1 - x0);
      const line = (value) =>
        points.map((p) => `${x(p[0]).toFixed(1)},${y(value(p)).toFixed(1)}`).join(" ");
      root.append(svg("polyline", { points: line((p) => p[2] / 100), class: "line verification" }));
      root.append(svg("polyline", { points: line((p) => p[3]), class: "line risk" }));
      const lastOffset = points[points.length - 1][0];
      root.append(svg("text", { x: x0, y: HEIGHT - 6, class: "axis" }, `event ${first}`));
      root.append(svg("text", { x: x1, y: HEIGHT - 6, class: "axis end" }, `event ${lastOffset}`));
    }
    this.container.replaceChildren(root);
    this.caption.textContent = this.describe(points);
  }

  describe(points) {
    if (!points.length) return "No scored events yet.";
    const a = points[0];
    const b = points[points.length - 1];
    return (
      `Verification score ${a[2]} → ${b[2]}, ` +
      `risk score ${a[3].toFixed(2)} → ${b[3].toFixed(2)}, ` +
      `over events ${a[0]} to ${b[0]}.`
    );
  }
}
