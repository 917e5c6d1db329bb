/* Run detail: while workers generate the run, poll the API and move the progress bar; when the
 * status changes, reload so the server renders the new state (queue link, metrics). */
(function () {
  "use strict";

  const POLL_MS = 2000;
  const panel = document.getElementById("run-progress");
  if (!panel || !panel.dataset.statusUrl) return;
  const initialStatus = panel.dataset.status;
  if (initialStatus !== "pending" && initialStatus !== "generating") return;
  const bar = document.getElementById("scene-bar");
  const count = document.getElementById("scene-count");

  async function poll() {
    try {
      const { data } = await window.ShopApi.get(panel.dataset.statusUrl);
      const run = data || {};
      const progress = run.progress || {};
      const total = progress.scenes_total || 0;
      const done = progress.scenes_done || 0;
      bar.style.width = (total ? (100 * done / total) : 0).toFixed(2) + "%";
      count.textContent = done + " / " + total;
      if (run.status && run.status !== initialStatus) {
        window.location.reload();
        return;
      }
    } catch (error) {
      // A missed poll only delays the bar; the next one catches up.
    }
    window.setTimeout(poll, POLL_MS);
  }

  window.setTimeout(poll, POLL_MS);
})();
