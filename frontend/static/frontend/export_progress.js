/* Polls a pending or running export and moves its progress bar; once it is done or failed the page
 * reloads, so the download button, the sha256 and the report come from the server. */
(function () {
  "use strict";

  const POLL_MS = 1000;
  const card = document.querySelector("[data-testid=export-job][data-status-url]");
  if (!card) return;

  async function poll() {
    try {
      const job = (await window.ShopApi.get(card.dataset.statusUrl)).data;
      card.querySelector("[data-testid=export-done]").textContent = String(job.items_done);
      card.querySelector("[data-testid=export-total]").textContent = String(job.items_total);
      card.querySelector("[data-testid=export-status]").textContent = job.status_display;
      card.querySelector("[data-testid=export-step]").textContent = job.step;
      card.querySelector("[data-testid=export-bar]").style.width = (100 * job.progress) + "%";
      card.dataset.status = job.status;
      if (job.status === "done" || job.status === "failed") {
        window.location.reload();
        return;
      }
    } catch (error) {
      // A missed poll changes nothing; the next one catches up.
    }
    window.setTimeout(poll, POLL_MS);
  }

  window.setTimeout(poll, POLL_MS);
})();
