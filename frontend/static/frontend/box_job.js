/* Polls a box queue's pre-annotation job and moves its progress bar until it is ready or failed. */
(function () {
  "use strict";

  const POLL_MS = 2000;
  const card = document.getElementById("box-job");
  if (!card) return;
  const bar = card.querySelector("[data-testid=box-job-bar]");
  const done = card.querySelector("[data-testid=box-job-done]");
  const status = card.querySelector("[data-testid=box-job-status]");

  async function poll() {
    try {
      const result = await window.ShopApi.get(card.dataset.statusUrl);
      const job = result.data;
      done.textContent = String(job.scenes_done);
      status.textContent = job.status_display;
      bar.style.width = (job.scenes_total ? 100 * job.scenes_done / job.scenes_total : 0) + "%";
      card.dataset.status = job.status;
      if (job.status === "ready" || job.status === "failed") {
        // The task list and counts come from the server: show them once the job is over.
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
