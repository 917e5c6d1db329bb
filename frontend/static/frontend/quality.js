/* Quality pages: sortable tables, and the dashboard kept live.
 *
 * Sorting: a table.sortable has buttons (button.sort[data-sort-key]) in its header; a click sorts
 * the body by each row's cell of that key (its data-sort-value: a number, or text with
 * data-sort-type="text"), and a second click reverses. Rows without a value go last either way.
 *
 * Live: #quality-live names a status URL; the script polls it and reloads the page when the stored
 * snapshot changes (labels arrived and a refresh finished), so the server renders the new figures.
 */
(function () {
  "use strict";

  const POLL_MS = 4000;

  function sortValue(row, key, type) {
    const cell = row.querySelector('[data-sort-key="' + key + '"]');
    const raw = cell ? cell.getAttribute("data-sort-value") : "";
    if (raw === null || raw === "") return null;
    if (type === "text") return raw.toLowerCase();
    const number = parseFloat(raw);
    return Number.isNaN(number) ? null : number;
  }

  function sortTable(table, button) {
    const key = button.getAttribute("data-sort-key");
    const type = button.getAttribute("data-sort-type") || "number";
    const header = button.closest("th");
    const ascending = header.getAttribute("aria-sort") !== "ascending";
    table.querySelectorAll("thead th[aria-sort]").forEach((th) => th.removeAttribute("aria-sort"));
    header.setAttribute("aria-sort", ascending ? "ascending" : "descending");
    const body = table.tBodies[0];
    const rows = Array.from(body.rows).map((row, index) => ({ row, index, value: sortValue(row, key, type) }));
    rows.sort((a, b) => {
      if (a.value === null || b.value === null) {
        if (a.value === b.value) return a.index - b.index;
        return a.value === null ? 1 : -1;
      }
      if (a.value === b.value) return a.index - b.index;
      const order = a.value < b.value ? -1 : 1;
      return ascending ? order : -order;
    });
    rows.forEach((entry) => body.appendChild(entry.row));
  }

  document.querySelectorAll("table.sortable").forEach((table) => {
    table.querySelectorAll("thead button.sort").forEach((button) => {
      button.addEventListener("click", () => sortTable(table, button));
    });
  });

  const live = document.getElementById("quality-live");
  if (!live || !live.dataset.statusUrl) return;
  const shownAt = live.dataset.computedAt || "";

  function showRefreshing() {
    if (live.querySelector(".refreshing")) return;
    const note = document.createElement("span");
    note.className = "refreshing";
    note.setAttribute("role", "status");
    note.setAttribute("data-testid", "quality-refreshing");
    note.textContent = "New labels arrived: refreshing…";
    live.appendChild(note);
  }

  async function poll() {
    if (!document.hidden) {
      try {
        const response = await fetch(live.dataset.statusUrl, {
          credentials: "same-origin", headers: { Accept: "application/json" },
        });
        if (response.ok) {
          const status = await response.json();
          if ((status.computed_at || "") !== shownAt && status.computed_at) {
            window.location.reload();
            return;
          }
          if (status.stale) showRefreshing();
        }
      } catch (error) {
        // A missed poll only delays the reload; the next one catches up.
      }
    }
    window.setTimeout(poll, POLL_MS);
  }

  window.setTimeout(poll, POLL_MS);
})();
