/* Polls the pending and running imports of an import page (creator pairs, catalogues, COCO files)
 * and moves their progress bars; once one is done or failed the page reloads, so its counts and
 * refused rows come from the server. A row is [data-import-row][data-status-url]; inside it,
 * [data-progress=done], [data-progress=status] and [data-progress=bar] follow the job. */
(function () {
  "use strict";

  const POLL_MS = 1500;
  const rows = Array.from(document.querySelectorAll("[data-import-row][data-status-url]"));
  if (!rows.length) return;

  async function pollRow(row) {
    const result = await window.ShopApi.get(row.dataset.statusUrl);
    const job = result.data;
    row.querySelector("[data-progress=done]").textContent = String(job.lines_done);
    row.querySelector("[data-progress=status]").textContent = job.status_display;
    row.querySelector("[data-progress=bar]").style.width = (100 * job.progress) + "%";
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
