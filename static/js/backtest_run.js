// One backtest's results: equity and drawdown curves, trades marked on the price chart, metrics, settings.
import { apiFetch } from "./api.js";

const LWC = window.LightweightCharts;
const status = document.getElementById("run-status");
const runId = status.dataset.runId;
const dark = document.documentElement.dataset.theme === "dark";
const layout = { layout: { background: { color: dark ? "#131722" : "#ffffff" }, textColor: dark ? "#d1d4dc" : "#1d2330" }, autoSize: true, timeScale: { timeVisible: true } };
const seconds = (iso) => Date.parse(iso) / 1000;

function table(id, rows) {
  const body = document.querySelector(`#${id} tbody`);
  body.replaceChildren();
  for (const cells of rows) {
    const tr = document.createElement("tr");
    for (const cell of cells) tr.append(Object.assign(document.createElement("td"), { textContent: cell ?? "—" }));
    body.append(tr);
  }
}

const format = (value) => (typeof value === "number" ? (Number.isInteger(value) ? value : value.toFixed(6)) : JSON.stringify(value));

async function load() {
  const { ok, body } = await apiFetch(`/api/v1/backtests/${runId}`);
  if (!ok) return;
  status.textContent = `${body.status}${body.message ? ": " + body.message : ""} · engine ${body.engine} ${body.engine_version} · result hash ${body.result_hash || "—"}`;
  if (body.status === "queued" || body.status === "running") {
    setTimeout(load, 700);
    return;
  }
  table("metrics", Object.entries(body.metrics).map(([k, v]) => [k, format(v)]));
  table("settings-used", Object.entries(body.settings).map(([k, v]) => [k, format(v)]));
  document.getElementById("data-used").textContent = `${body.data.rows} bars ${body.data.start} … ${body.data.end}, data hash ${body.data.hash}`;
  table("trades", body.trades.map((t) => [t.entry_time, format(t.entry_price), t.exit_time, format(t.exit_price), format(t.size), format(t.pnl), format(t.return)]));

  const equity = body.equity.filter((p) => p.value !== null).map((p) => ({ time: seconds(p.t), value: p.value }));
  const equityChart = LWC.createChart(document.getElementById("equity-chart"), layout);
  equityChart.addSeries(LWC.LineSeries, { color: "#2962ff", lineWidth: 2 }).setData(equity);
  equityChart.timeScale().fitContent();

  let peak = -Infinity;
  const drawdown = equity.map((p) => {
    peak = Math.max(peak, p.value);
    return { time: p.time, value: (p.value / peak - 1) * 100 };
  });
  const drawdownChart = LWC.createChart(document.getElementById("drawdown-chart"), layout);
  drawdownChart.addSeries(LWC.AreaSeries, { lineColor: "#ef5350", topColor: "#ef535000", bottomColor: "#ef535066", invertFilledArea: true }).setData(drawdown);
  drawdownChart.timeScale().fitContent();

  const s = body.settings;
  const params = new URLSearchParams({ symbol: s.symbol, venue: s.venue, interval: s.interval, start: s.start_date, end: s.end_date, limit: "100000" });
  const bars = (await apiFetch(`/api/v1/bars?${params}`)).body?.bars || [];
  const priceChart = LWC.createChart(document.getElementById("price-chart"), layout);
  const candles = priceChart.addSeries(LWC.CandlestickSeries, {});
  candles.setData(bars.map((b) => ({ time: seconds(b.t), open: b.o, high: b.h, low: b.l, close: b.c })));
  const markers = [];
  for (const t of body.trades) {
    markers.push({ time: seconds(t.entry_time), position: "belowBar", color: "#26a69a", shape: "arrowUp" });
    if (!t.open) markers.push({ time: seconds(t.exit_time), position: "aboveBar", color: "#ef5350", shape: "arrowDown" });
  }
  markers.sort((a, b) => a.time - b.time);
  LWC.createSeriesMarkers(candles, markers);
  priceChart.timeScale().fitContent();
  document.body.dataset.markers = String(markers.length);
  document.body.dataset.ready = "true";
}

load();
