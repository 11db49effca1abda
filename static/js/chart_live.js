// Replay and live mode for the chart page: a session streams bars over /ws/sessions/<id>/.
// Completed bars of the chosen interval come from the server (derived bars); between them the
// forming bar is folded from the 1-minute bars in the page.
import { apiFetch } from "./api.js";

const form = document.getElementById("replay-form");
const buttons = {
  pause: document.getElementById("pause-button"),
  resume: document.getElementById("resume-button"),
  stop: document.getElementById("stop-button"),
};
let session = null;
let socket = null;
let forming = null;
let statusTimer = null;

function chartReady() {
  return window.mdChart ? Promise.resolve(window.mdChart) : new Promise((resolve) => document.addEventListener("md:chart-ready", () => resolve(window.mdChart), { once: true }));
}

const seconds = (iso) => Date.parse(iso) / 1000;

function intervalSeconds(text) {
  const match = /^(\d+)([smhd])$/.exec(text);
  return Number(match[1]) * { s: 1, m: 60, h: 3600, d: 86400 }[match[2]];
}

function upsert(md, bar) {
  const bars = md.state.bars;
  const last = bars[bars.length - 1];
  if (last && last.time === bar.time) bars[bars.length - 1] = bar;
  else if (!last || bar.time > last.time) bars.push(bar);
  else return;
  md.candles.update(bar);
  md.volume.update({ time: bar.time, value: bar.volume, color: bar.close >= bar.open ? "#26a69a88" : "#ef535088" });
  document.getElementById("chart").dataset.bars = String(bars.length);
  document.getElementById("chart").dataset.liveBars = String(Number(document.getElementById("chart").dataset.liveBars || 0) + 1);
}

function onEvent(md, event) {
  const interval = md.state.interval;
  if (event.type === "bar" && event.data.interval === "1m") {
    const b = event.data;
    const one = { time: seconds(b.t), open: b.o, high: b.h, low: b.l, close: b.c, volume: b.v };
    if (interval === "1m") return upsert(md, one);
    if (!forming || one.time >= forming.time + intervalSeconds(interval)) forming = { ...one };
    else forming = { ...forming, high: Math.max(forming.high, one.high), low: Math.min(forming.low, one.low), close: one.close, volume: forming.volume + one.volume };
    upsert(md, forming);
  } else if (event.type === "derived_bar" && event.data.interval === interval) {
    const b = event.data;
    const done = { time: seconds(b.t), open: b.o, high: b.h, low: b.l, close: b.c, volume: b.v };
    upsert(md, done);
    forming = null; // the next 1-minute bar opens the next bar
  } else if (event.type === "session_started") {
    forming = null;
  } else if (event.type === "state") {
    setControls(event.data.state);
  }
}

function setControls(state) {
  const active = ["running", "paused", "starting"].includes(state);
  buttons.pause.disabled = state !== "running";
  buttons.resume.disabled = state !== "paused";
  buttons.stop.disabled = !active;
  document.getElementById("chart").dataset.sessionState = state;
}

async function refreshStatus(md) {
  if (!session) return;
  const [{ body: snap }, { body: clock }] = await Promise.all([
    apiFetch(`/api/v1/sessions/${session}`),
    apiFetch(`/api/v1/clock?market=${encodeURIComponent(document.getElementById("chart").dataset.calendar)}&session_id=${session}`),
  ]);
  const symbol = snap?.symbols?.[md.state.ticker || document.getElementById("chart").dataset.ticker];
  const quality = symbol?.bar_quality != null ? `bar quality ${Number(symbol.bar_quality).toFixed(1)}%` : "";
  const when = clock?.now ? new Date(clock.now).toISOString().replace(".000Z", "Z") : "";
  md.setStatus(`${snap?.state || ""} · ${clock?.mode || ""} clock ${when} · market ${clock?.is_open ? "open" : "closed"} ${quality}`);
  setControls(snap?.state);
  if (["stopped", "finished", "error"].includes(snap?.state)) clearInterval(statusTimer);
}

async function start(md, body) {
  await stop();
  const chartEl = document.getElementById("chart");
  const interval = md.state.interval;
  const request = {
    symbols: [`${chartEl.dataset.ticker}@${chartEl.dataset.venue}`], streams: ["bars"], paused: true,
    derived_intervals: interval === "1m" ? [] : [interval], ...body,
  };
  const { ok, body: created } = await apiFetch("/api/v1/sessions", {
    method: "POST", body: JSON.stringify(request), headers: { "Content-Type": "application/json" },
  });
  if (!ok) {
    md.setStatus(created.error.message);
    return;
  }
  session = created.id;
  chartEl.dataset.sessionId = session;
  if (body.start_date) {
    md.state.bars = [];
    md.state.exhausted = true;
    md.render();
  }
  forming = null;
  const scheme = location.protocol === "https:" ? "wss" : "ws";
  socket = new WebSocket(`${scheme}://${location.host}${created.ws}`);
  socket.onmessage = (message) => onEvent(md, JSON.parse(message.data));
  socket.onopen = () => control("resume");
  statusTimer = setInterval(() => refreshStatus(md), 1000);
}

async function control(action) {
  if (session) await apiFetch(`/api/v1/sessions/${session}/${action}`, { method: "POST" });
}

async function stop() {
  if (session) await control("stop");
  socket?.close();
  clearInterval(statusTimer);
  session = null;
}

const md = await chartReady();
const yesterday = new Date(Date.now() - 86400000).toISOString().slice(0, 10);
form.start_date.value ||= yesterday;
form.end_date.value ||= yesterday;
form.addEventListener("submit", (event) => {
  event.preventDefault();
  start(md, { start_date: form.start_date.value, end_date: form.end_date.value, speed: Number(form.speed.value) });
});
document.getElementById("live-button").addEventListener("click", () => start(md, {}));
buttons.pause.addEventListener("click", () => control("pause"));
buttons.resume.addEventListener("click", () => control("resume"));
buttons.stop.addEventListener("click", stop);
form.speed.addEventListener("change", () => session && apiFetch(`/api/v1/sessions/${session}`, {
  method: "PATCH", body: JSON.stringify({ speed: Number(form.speed.value) }), headers: { "Content-Type": "application/json" },
}));
