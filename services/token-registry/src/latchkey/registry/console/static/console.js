// The token console's only script: copy buttons, confirmations, and the live delivery receipt.
"use strict";

document.addEventListener("click", async (event) => {
  const button = event.target.closest("[data-copy]");
  if (!button) return;
  const field = document.querySelector(button.dataset.copy);
  const note = button.parentElement.querySelector(".copied");
  try {
    await navigator.clipboard.writeText(field.value);
    if (note) note.textContent = "Copied.";
  } catch {
    field.select();  // clipboard refused (plain http, old browser): leave it selected to copy
    if (note) note.textContent = "Selected: press Ctrl+C.";
  }
});

document.addEventListener("submit", (event) => {
  const message = event.target.dataset.confirm;
  if (message && !window.confirm(message)) event.preventDefault();
});

function renderReceipt(section, receipt) {
  section.querySelector(".applied").textContent = receipt.applied;
  section.querySelector(".instances").textContent = receipt.instances;
  section.querySelector(".state").textContent = receipt.complete ? "Every instance has it." : "Waiting…";
  const body = section.querySelector("tbody");
  body.replaceChildren(...receipt.deliveries.map((item) => {
    const row = document.createElement("tr");
    const cells = [
      ["Instance", item.instanceId], ["Service", item.service],
      ["Applied", item.applied ? (item.caughtUp ? "yes, on catching up" : "yes") : "not yet"],
      ["After", item.latencyMs == null ? "—" : `${item.latencyMs.toFixed(1)} ms`],
    ];
    for (const [label, text] of cells) {
      const cell = document.createElement("td");
      cell.dataset.label = label;
      cell.textContent = text;  // textContent: nothing from the server is parsed as HTML
      row.append(cell);
    }
    return row;
  }));
  section.dataset.complete = String(receipt.complete);
}

async function followReceipt(section) {
  const deadline = Date.now() + 60_000;
  while (section.dataset.complete !== "true" && Date.now() < deadline) {
    await new Promise((resolve) => setTimeout(resolve, 250));
    try {
      const response = await fetch(section.dataset.url, { credentials: "same-origin", headers: { Accept: "application/json" } });
      if (response.ok) renderReceipt(section, await response.json());
    } catch { /* keep trying until the deadline */ }
  }
}

const receipt = document.getElementById("receipt");
if (receipt) followReceipt(receipt);
