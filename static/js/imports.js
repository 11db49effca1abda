import { apiFetch } from "./api.js";

const form = document.getElementById("import-form");
const statusBox = document.getElementById("import-status");
const progress = document.getElementById("import-progress");
const message = document.getElementById("import-message");
const errorsBox = document.getElementById("import-errors");

function showErrors(error) {
  const rows = errorsBox.querySelector("tbody");
  rows.replaceChildren();
  for (const detail of error.details.length ? error.details : [{ field: "", message: error.message }]) {
    const tr = document.createElement("tr");
    for (const value of [detail.row ?? "—", detail.field ?? "", detail.message]) {
      const td = document.createElement("td");
      td.textContent = value;
      tr.append(td);
    }
    rows.append(tr);
  }
  errorsBox.hidden = false;
}

async function poll(id) {
  const { body } = await apiFetch(`/api/v1/imports/${id}`);
  progress.value = body.progress;
  message.textContent = `${body.status}: ${body.message || ""}`;
  if (body.status === "succeeded") {
    message.textContent = `Done: ${body.rows_inserted} rows added, ${body.rows_duplicate} duplicates, ${body.rows_updated} replaced.`;
    setTimeout(() => window.location.reload(), 1500);
  } else if (body.status === "failed") {
    showErrors({ message: body.message, details: body.errors || [] });
  } else {
    setTimeout(() => poll(id), 500);
  }
}

form.symbol.addEventListener("change", () => {
  form.venue.value = form.symbol.selectedOptions[0]?.dataset.venue || "";
});

form.addEventListener("submit", async (event) => {
  event.preventDefault();
  errorsBox.hidden = true;
  statusBox.hidden = false;
  progress.removeAttribute("value");
  message.textContent = "Uploading and checking every row…";
  const data = new FormData(form);
  for (const key of ["symbol", "venue", "tz"]) if (!data.get(key)) data.delete(key);
  const { ok, body } = await apiFetch("/api/v1/imports", { method: "POST", body: data });
  if (!ok) {
    statusBox.hidden = true;
    showErrors(body?.error || { message: "upload failed", details: [] });
    return;
  }
  poll(body.id);
});
