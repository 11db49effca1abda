// Chart drawings saved per user and symbol (/api/v1/drawings): trend line, horizontal line,
// Fibonacci retracement, rectangle. Horizontal lines are the library's price lines; the
// others are drawn on an SVG layer over the chart, re-placed whenever the view changes.
import { apiFetch } from "./api.js";

const POINTS = { trend_line: 2, horizontal_line: 1, fibonacci: 2, rectangle: 2 };
const FIB_LEVELS = [0, 0.236, 0.382, 0.5, 0.618, 0.786, 1];
const LABELS = { trend_line: "Trend line", horizontal_line: "Horizontal line", fibonacci: "Fibonacci retracement", rectangle: "Rectangle" };
const SVG = "http://www.w3.org/2000/svg";

export class DrawingLayer {
  constructor({ chart, series, symbolId, layer, formatTime }) {
    Object.assign(this, { chart, series, symbolId, layer, formatTime });
    this.items = [];
    this.priceLines = new Map();
    this.tool = null;
    this.pending = [];
    this.bars = () => window.mdChart?.state.bars || [];
    for (const button of document.querySelectorAll("#drawing-tools button[data-tool]")) {
      button.addEventListener("click", () => this.choose(button.dataset.tool === this.tool ? null : button.dataset.tool));
    }
    chart.subscribeClick((param) => this.click(param));
  }

  choose(tool) {
    this.tool = tool;
    this.pending = [];
    for (const button of document.querySelectorAll("#drawing-tools button[data-tool]")) {
      button.classList.toggle("active", button.dataset.tool === tool);
    }
    document.getElementById("tool-hint").textContent = tool ? `click ${POINTS[tool]} point(s) on the chart` : "";
  }

  async load() {
    const { ok, body } = await apiFetch(`/api/v1/drawings?symbol=${this.symbolId}&limit=1000`);
    this.items = ok ? body.results : [];
    this.render();
  }

  timeAt(param) {
    if (param.time !== undefined) return param.time;
    const logical = this.chart.timeScale().coordinateToLogical(param.point.x);
    const bars = this.bars();
    if (logical === null || !bars.length) return null;
    const index = Math.max(0, Math.min(bars.length - 1, Math.round(logical)));
    return bars[index].time;
  }

  async click(param) {
    if (!this.tool || !param.point) return;
    const time = this.timeAt(param);
    const price = this.series.coordinateToPrice(param.point.y);
    if (time === null || price === null) return;
    this.pending.push({ t: new Date(time * 1000).toISOString(), price: Number(price.toFixed(6)) });
    if (this.pending.length < POINTS[this.tool]) return;
    const body = { symbol: this.symbolId, kind: this.tool, points: this.pending, style: {} };
    this.choose(null);
    const saved = await apiFetch("/api/v1/drawings", {
      method: "POST", body: JSON.stringify(body), headers: { "Content-Type": "application/json" },
    });
    if (saved.ok) {
      this.items.push(saved.body);
      this.render();
    }
  }

  async remove(id) {
    const { ok } = await apiFetch(`/api/v1/drawings/${id}`, { method: "DELETE" });
    if (ok) {
      this.items = this.items.filter((item) => item.id !== id);
      this.render();
    }
  }

  // x of a UTC time: interpolated between the bars around it, so anchors survive interval changes.
  x(isoTime) {
    const bars = this.bars();
    if (!bars.length) return null;
    const t = Date.parse(isoTime) / 1000;
    let lo = 0;
    let hi = bars.length - 1;
    while (lo < hi) {
      const mid = (lo + hi + 1) >> 1;
      if (bars[mid].time <= t) lo = mid;
      else hi = mid - 1;
    }
    let logical = lo;
    if (t < bars[0].time) logical = 0;
    else if (lo < bars.length - 1) logical = lo + (t - bars[lo].time) / (bars[lo + 1].time - bars[lo].time);
    return this.chart.timeScale().logicalToCoordinate(logical);
  }

  y(price) {
    return this.series.priceToCoordinate(price);
  }

  shape(tag, attributes, text) {
    const node = document.createElementNS(SVG, tag);
    for (const [key, value] of Object.entries(attributes)) node.setAttribute(key, value);
    if (text) node.textContent = text;
    this.layer.append(node);
  }

  render() {
    this.layer.replaceChildren();
    const color = getComputedStyle(document.documentElement).getPropertyValue("--accent").trim() || "#2962ff";
    const seen = new Set();
    for (const item of this.items) {
      const [a, b] = item.points;
      if (item.kind === "horizontal_line") {
        seen.add(item.id);
        if (!this.priceLines.has(item.id)) {
          this.priceLines.set(item.id, this.series.createPriceLine({ price: a.price, color: item.style.color || "#e91e63", lineWidth: 2, title: "H" }));
        }
        continue;
      }
      const x1 = this.x(a.t);
      const x2 = this.x(b.t);
      const y1 = this.y(a.price);
      const y2 = this.y(b.price);
      if ([x1, x2, y1, y2].some((v) => v === null)) continue;
      if (item.kind === "trend_line") {
        this.shape("line", { x1, y1, x2, y2, stroke: color, "stroke-width": 2, "data-id": item.id });
      } else if (item.kind === "rectangle") {
        this.shape("rect", {
          x: Math.min(x1, x2), y: Math.min(y1, y2), width: Math.abs(x2 - x1), height: Math.abs(y2 - y1),
          fill: color + "22", stroke: color, "data-id": item.id,
        });
      } else if (item.kind === "fibonacci") {
        for (const level of FIB_LEVELS) {
          const price = b.price + (a.price - b.price) * level;
          const y = this.y(price);
          if (y === null) continue;
          this.shape("line", { x1: Math.min(x1, x2), x2: this.layer.clientWidth - 60, y1: y, y2: y, stroke: color, "stroke-dasharray": "4 3", "data-id": item.id });
          this.shape("text", { x: Math.min(x1, x2) + 4, y: y - 3, fill: color, "font-size": 11 }, `${(level * 100).toFixed(1)}%  ${price.toFixed(2)}`);
        }
      }
    }
    for (const [id, line] of this.priceLines) {
      if (!seen.has(id)) {
        this.series.removePriceLine(line);
        this.priceLines.delete(id);
      }
    }
    this.renderList();
  }

  renderList() {
    const list = document.getElementById("drawing-list");
    list.replaceChildren();
    for (const item of this.items) {
      const li = document.createElement("li");
      li.dataset.kind = item.kind;
      const where = item.points.map((p) => `${this.formatTime(Date.parse(p.t) / 1000)} @ ${p.price}`).join(" → ");
      li.textContent = `${LABELS[item.kind]}: ${where} `;
      const button = document.createElement("button");
      button.type = "button";
      button.textContent = "Delete";
      button.addEventListener("click", () => this.remove(item.id));
      li.append(button);
      list.append(li);
    }
    if (!this.items.length) list.innerHTML = '<li class="empty">No drawings yet: pick a tool above and click the chart.</li>';
  }
}
