// The chart page: Lightweight Charts (npm, served as a static file) over the mdserver API.
// Times are UTC seconds inside the chart (the library plots UTC); every label is
// formatted in the market's time zone, which the status line names.
import { apiFetch } from "./api.js";
import { DrawingLayer } from "./drawings.js";

const LWC = window.LightweightCharts;
const el = document.getElementById("chart");
const symbolId = Number(el.dataset.symbolId);
const ticker = el.dataset.ticker;
const venue = el.dataset.venue;
const tz = el.dataset.tz;
const PAGE = 500;

const THEMES = {
  light: { background: "#ffffff", text: "#1d2330", grid: "#eef0f3", up: "#26a69a", down: "#ef5350" },
  dark: { background: "#131722", text: "#d1d4dc", grid: "#1f2430", up: "#26a69a", down: "#ef5350" },
};

const timeLabel = new Intl.DateTimeFormat("en-CA", {
  timeZone: tz, year: "numeric", month: "2-digit", day: "2-digit", hour: "2-digit", minute: "2-digit", hour12: false,
});
const dayLabel = new Intl.DateTimeFormat("en-US", { timeZone: tz, month: "short", day: "numeric" });
const hourLabel = new Intl.DateTimeFormat("en-GB", { timeZone: tz, hour: "2-digit", minute: "2-digit", hour12: false });

function formatTime(seconds) {
  return timeLabel.format(new Date(seconds * 1000)).replace(",", "");
}

const state = {
  interval: new URLSearchParams(location.search).get("interval") || "1m",
  bars: [], // [{time, open, high, low, close, volume}] oldest first
  loadingOlder: false,
  exhausted: false,
  olderLoads: 0,
};

const chart = LWC.createChart(el, {
  autoSize: true,
  timeScale: { timeVisible: true, secondsVisible: false, tickMarkFormatter: (time, type) => (type <= 2 ? dayLabel : hourLabel).format(new Date(time * 1000)) },
  localization: { timeFormatter: formatTime },
  crosshair: { mode: LWC.CrosshairMode.Normal },
});
const candles = chart.addSeries(LWC.CandlestickSeries, {});
const volume = chart.addSeries(LWC.HistogramSeries, { priceFormat: { type: "volume" } }, 1);
chart.panes()[1]?.setHeight(110);

function applyTheme(name) {
  const theme = THEMES[name] || THEMES.light;
  document.documentElement.dataset.theme = name;
  chart.applyOptions({
    layout: { background: { color: theme.background }, textColor: theme.text },
    grid: { vertLines: { color: theme.grid }, horzLines: { color: theme.grid } },
  });
  candles.applyOptions({ upColor: theme.up, downColor: theme.down, wickUpColor: theme.up, wickDownColor: theme.down, borderVisible: false });
  drawings?.render();
}

function toSeries(apiBars) {
  return apiBars.map((b) => ({ time: Date.parse(b.t) / 1000, open: b.o, high: b.h, low: b.l, close: b.c, volume: b.v }));
}

function render() {
  candles.setData(state.bars);
  const theme = THEMES[document.documentElement.dataset.theme] || THEMES.light;
  volume.setData(state.bars.map((b) => ({ time: b.time, value: b.volume, color: b.close >= b.open ? theme.up + "88" : theme.down + "88" })));
  el.dataset.bars = String(state.bars.length);
  el.dataset.firstTime = state.bars.length ? new Date(state.bars[0].time * 1000).toISOString() : "";
  drawings.render();
}

function latestUrl(end) {
  const params = new URLSearchParams({ symbol: ticker, venue, interval: state.interval, count: String(PAGE), session: "regular" });
  if (end) params.set("end", end);
  return `/api/v1/bars/latest?${params}`;
}

async function loadInterval(interval) {
  const { ok, body } = await apiFetch(latestUrl(null));
  if (!ok) {
    setStatus(body?.error?.message || "could not load bars");
    return;
  }
  state.bars = toSeries(body.bars);
  state.exhausted = body.bars.length < PAGE;
  render();
  chart.timeScale().fitContent();
  if (state.bars.length > 150) chart.timeScale().setVisibleLogicalRange({ from: state.bars.length - 150, to: state.bars.length + 5 });
  for (const button of document.querySelectorAll("#intervals button[data-interval]")) {
    button.classList.toggle("active", button.dataset.interval === state.interval);
  }
  setStatus();
}

async function loadOlder() {
  if (state.loadingOlder || state.exhausted || !state.bars.length) return;
  state.loadingOlder = true;
  const oldest = new Date(state.bars[0].time * 1000).toISOString();
  const range = chart.timeScale().getVisibleLogicalRange();
  const { ok, body } = await apiFetch(latestUrl(oldest));
  state.loadingOlder = false;
  if (!ok) return;
  const older = toSeries(body.bars).filter((b) => b.time < state.bars[0].time);
  if (!older.length) {
    state.exhausted = true;
    return;
  }
  state.bars = older.concat(state.bars);
  state.olderLoads += 1;
  el.dataset.olderLoads = String(state.olderLoads);
  render();
  if (range) chart.timeScale().setVisibleLogicalRange({ from: range.from + older.length, to: range.to + older.length });
}

chart.timeScale().subscribeVisibleLogicalRangeChange((range) => {
  if (range && range.from < 20) loadOlder();
  drawings.render();
});

chart.subscribeCrosshairMove((param) => {
  const bar = param.time ? param.seriesData.get(candles) : null;
  const readout = document.getElementById("readout");
  if (!bar) {
    readout.textContent = "—";
    return;
  }
  const vol = state.bars.find((b) => b.time === param.time)?.volume ?? 0;
  readout.textContent = `${formatTime(param.time)}  O ${bar.open}  H ${bar.high}  L ${bar.low}  C ${bar.close}  V ${vol.toLocaleString()}`;
});

let statusExtra = "";
export function setStatus(extra) {
  if (extra !== undefined) statusExtra = extra;
  const line = document.getElementById("status-line");
  line.textContent = `${ticker} · ${state.interval} · ${state.bars.length} bars · times in ${tz}${statusExtra ? " · " + statusExtra : ""}`;
}

for (const button of document.querySelectorAll("#intervals button[data-interval]")) {
  button.addEventListener("click", () => {
    state.interval = button.dataset.interval;
    loadInterval(state.interval);
  });
}
document.getElementById("custom-interval").addEventListener("submit", (event) => {
  event.preventDefault();
  const value = event.target.interval.value.trim();
  if (!/^[1-9]\d*[smhd]$/.test(value)) {
    setStatus(`“${value}” is not an interval like 7m, 4h or 2d`);
    return;
  }
  state.interval = value;
  loadInterval(value);
});

document.getElementById("theme-toggle").addEventListener("click", async () => {
  const next = document.documentElement.dataset.theme === "dark" ? "light" : "dark";
  applyTheme(next);
  render();
  await apiFetch("/api/v1/me/preferences", {
    method: "PATCH", body: JSON.stringify({ theme: next }), headers: { "Content-Type": "application/json" },
  });
});

const drawings = new DrawingLayer({ chart, series: candles, symbolId, layer: document.getElementById("drawing-layer"), formatTime });
applyTheme(document.documentElement.dataset.theme || "light");
await drawings.load();
await loadInterval(state.interval);

// The replay/live controls (chart-live.js) and the tests use this handle.
window.mdChart = { chart, candles, volume, state, render, setStatus, drawings, loadInterval };
document.dispatchEvent(new CustomEvent("md:chart-ready"));
