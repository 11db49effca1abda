// The backtests page: a settings form built from the strategies' schemas, presets that prefill it,
// validation messages next to the fields, and runs with live progress.
import { apiFetch } from "./api.js";

const form = document.getElementById("settings-form");
const errors = document.getElementById("form-errors");
const NUMBER_FIELDS = ["initial_cash", "units", "start_price", "loan_amount", "margin_call_ltv", "fee", "slippage"];
let strategies = [];

function renderParams(strategy, values = {}) {
  const fieldset = document.getElementById("params");
  fieldset.replaceChildren(Object.assign(document.createElement("legend"), { textContent: "Strategy parameters" }));
  const spec = strategies.find((s) => s.name === strategy);
  for (const [name, schema] of Object.entries(spec?.parameters?.properties || {})) {
    const label = document.createElement("label");
    label.dataset.field = `params.${name}`;
    label.title = schema.description || "";
    const input = Object.assign(document.createElement("input"), {
      name: `param:${name}`, type: "number", step: "any", value: values[name] ?? schema.default ?? "",
    });
    label.append(`${name} `, input);
    fieldset.append(label);
  }
}

function fill(values) {
  for (const [name, value] of Object.entries(values)) {
    if (form.elements[name] && typeof value !== "object") form.elements[name].value = value;
  }
  if (values.strategy) {
    form.strategy.value = values.strategy;
    renderParams(values.strategy, values.params || {});
  }
}

function collect() {
  const body = { params: {} };
  for (const element of form.elements) {
    if (!element.name || element.type === "submit" || element.type === "checkbox") continue;
    if (element.name.startsWith("param:")) {
      if (element.value !== "") body.params[element.name.slice(6)] = Number(element.value);
    } else if (element.name !== "id" && element.value !== "") {
      body[element.name] = NUMBER_FIELDS.includes(element.name) ? Number(element.value) : element.value;
    }
  }
  return body;
}

function showErrors(error) {
  for (const label of form.querySelectorAll(".field-error")) label.classList.remove("field-error");
  errors.replaceChildren();
  for (const detail of error.details.length ? error.details : [{ field: null, message: error.message }]) {
    const li = document.createElement("li");
    li.textContent = detail.field ? `${detail.field}: ${detail.message}` : detail.message;
    errors.append(li);
    const input = detail.field && (form.elements[detail.field] || form.querySelector(`[data-field="${detail.field}"] input`));
    const label = input?.closest("label");
    if (label) {
      label.classList.add("field-error");
      label.dataset.error = detail.message;
    }
  }
}

async function save() {
  const id = form.elements.id.value;
  const { ok, body } = await apiFetch(id ? `/api/v1/backtest-settings/${id}` : "/api/v1/backtest-settings", {
    method: id ? "PATCH" : "POST", body: JSON.stringify(collect()), headers: { "Content-Type": "application/json" },
  });
  if (!ok) {
    showErrors(body.error);
    return null;
  }
  showErrors({ details: [], message: "" });
  errors.replaceChildren();
  form.elements.id.value = body.id;
  return body;
}

async function run(settingsId) {
  const engine = form.elements.event_engine.checked ? "event" : "vectorized";
  const { ok, body } = await apiFetch("/api/v1/backtests", {
    method: "POST", body: JSON.stringify({ settings_id: Number(settingsId), engine }), headers: { "Content-Type": "application/json" },
  });
  if (!ok) showErrors(body.error);
  else location.reload();
}

form.addEventListener("submit", async (event) => {
  event.preventDefault();
  const saved = await save();
  if (saved && event.submitter?.value === "run") await run(saved.id);
  else if (saved) location.reload();
});
form.strategy.addEventListener("change", () => renderParams(form.strategy.value));

document.getElementById("saved").addEventListener("click", async (event) => {
  const runId = event.target.dataset.run;
  const editId = event.target.dataset.edit;
  if (runId) await run(runId);
  if (editId) {
    const { body } = await apiFetch(`/api/v1/backtest-settings/${editId}`);
    fill(body);
    form.elements.id.value = body.id;
    form.scrollIntoView();
  }
});

async function pollRuns() {
  const pending = [...document.querySelectorAll("#runs tr[data-status='queued'], #runs tr[data-status='running']")];
  if (!pending.length) return;
  for (const row of pending) {
    const { body } = await apiFetch(`/api/v1/backtests/${row.dataset.runId}`);
    row.querySelector("progress").value = body.progress;
    if (body.status !== row.dataset.status && ["succeeded", "failed"].includes(body.status)) {
      location.reload();
      return;
    }
  }
  setTimeout(pollRuns, 700);
}

const [{ body: strategyBody }, { body: presets }] = await Promise.all([apiFetch("/api/v1/strategies"), apiFetch("/api/v1/presets")]);
strategies = strategyBody.strategies;
for (const strategy of strategies) form.strategy.append(new Option(strategy.title || strategy.name, strategy.name));
const presetSelect = document.getElementById("preset");
for (const preset of presets) presetSelect.append(new Option(preset.name, preset.id));
presetSelect.addEventListener("change", () => {
  const preset = presets.find((p) => p.id === presetSelect.value);
  if (!preset) return;
  form.elements.id.value = "";
  fill({ name: preset.name, symbol: preset.symbol, venue: preset.venue, interval: preset.interval,
         start_date: preset.start_date, end_date: preset.end_date, data_source: preset.data_source,
         strategy: preset.strategy, params: preset.params, ...preset.settings });
  document.getElementById("preset-description").textContent = preset.description;
});
renderParams(form.strategy.value);
pollRuns();

// Parameter sweeps: one batch of runs over a grid, shown as a table sorted by any metric.
const sweepForm = document.getElementById("sweep-form");
const sweepTable = document.getElementById("sweep-table");
let sweepRows = [];
let sweepSort = { key: "sharpe", descending: true };

function renderSweep() {
  const { key, descending } = sweepSort;
  const value = (row) => (key === "params" ? JSON.stringify(row.params) : row.metrics?.[key] ?? -Infinity);
  const rows = [...sweepRows].sort((a, b) => (value(a) > value(b) ? 1 : value(a) < value(b) ? -1 : 0) * (descending ? -1 : 1));
  const body = sweepTable.querySelector("tbody");
  body.replaceChildren();
  for (const row of rows) {
    const tr = document.createElement("tr");
    const cells = [JSON.stringify(row.params), ...["total_return", "cagr", "sharpe", "sortino", "max_drawdown", "win_rate", "trades"]
      .map((name) => (typeof row.metrics?.[name] === "number" ? Number(row.metrics[name].toFixed(4)) : row.status))];
    for (const cell of cells) tr.append(Object.assign(document.createElement("td"), { textContent: cell }));
    const link = Object.assign(document.createElement("a"), { href: `/backtests/runs/${row.run_id}/`, textContent: `#${row.run_id}` });
    const linkCell = document.createElement("td");
    linkCell.append(link);
    tr.append(linkCell);
    body.append(tr);
  }
  sweepTable.hidden = false;
}

async function pollSweep(id) {
  const { body } = await apiFetch(`/api/v1/backtests/sweeps/${id}`);
  sweepRows = body.runs;
  document.getElementById("sweep-status").textContent = `${body.status}: ${body.message}`;
  renderSweep();
  if (body.status === "running") setTimeout(() => pollSweep(id), 800);
}

sweepForm.addEventListener("submit", async (event) => {
  event.preventDefault();
  let grid;
  try {
    grid = JSON.parse(sweepForm.grid.value);
  } catch {
    document.getElementById("sweep-status").textContent = "the grid must be JSON like {\"fast\": [5, 10]}";
    return;
  }
  const { ok, body } = await apiFetch("/api/v1/backtests/sweep", {
    method: "POST", body: JSON.stringify({ settings_id: Number(sweepForm.settings_id.value), grid }),
    headers: { "Content-Type": "application/json" },
  });
  if (!ok) {
    document.getElementById("sweep-status").textContent = body.error.details.map((d) => `${d.field}: ${d.message}`).join("; ") || body.error.message;
    return;
  }
  pollSweep(body.id);
});
sweepTable.querySelector("thead").addEventListener("click", (event) => {
  const key = event.target.dataset.key;
  if (!key) return;
  sweepSort = { key, descending: sweepSort.key === key ? !sweepSort.descending : true };
  renderSweep();
});
document.body.dataset.ready = "true";
