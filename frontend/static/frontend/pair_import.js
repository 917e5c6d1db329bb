/* Polls the pending and running creator-pair imports of the page and moves their progress bars;
 * once one is done or failed the page reloads, so its counts and refused lines come from the server. */
(function () {
  "use strict";

  const POLL_MS = 1500;
  const rows = Array.from(document.querySelectorAll("[data-pair-import][data-status-url]"));
  if (!rows.length) return;

  async function pollRow(row) {
    const result = await window.ShopApi.get(row.dataset.statusUrl);
    const job = result.data;
    row.querySelector("[data-testid=pair-import-done]").textContent = String(job.lines_done);
    row.querySelector("[data-testid=pair-import-status]").textContent = job.status_display;
    row.querySelector("[data-testid=pair-import-bar]").style.width = (100 * job.progress) + "%";
    row.dataset.status = job.status;
    return job.status === "done" || job.status === "failed";
  }

  async function poll() {
    let finished = false;
    for (const row of rows) {
      try {
        finished = (await pollRow(row)) || finished;
      } catch (error) {
        // A missed poll changes nothing; the next one catches up.
      }
    }
    if (finished) {
      window.location.reload();
      return;
    }
    window.setTimeout(poll, POLL_MS);
  }

  window.setTimeout(poll, POLL_MS);
})();
