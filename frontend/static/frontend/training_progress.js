/* Polls a running training job and moves its progress bar; the loss curve and the new version come
 * from the server, so the page reloads every few polls while it trains and once the job ends. */
(function () {
  "use strict";

  const POLL_MS = 1000;
  const RELOAD_EVERY = 5;
  const card = document.getElementById("training-progress");
  if (!card || !card.dataset.statusUrl) return;
  const bar = card.querySelector("[data-testid=training-bar]");
  const count = card.querySelector("[data-testid=training-count]");
  const step = card.querySelector("[data-testid=training-step]");
  const status = card.querySelector("[data-testid=training-status]");
  let polls = 0;
  let shownPoints = null;

  async function poll() {
    polls += 1;
    try {
      const job = (await window.ShopApi.get(card.dataset.statusUrl)).data;
      count.textContent = job.steps_done + " / " + job.steps_total;
      step.textContent = job.step;
      status.textContent = job.status_display;
      bar.style.width = (job.steps_total ? 100 * job.steps_done / job.steps_total : 0) + "%";
      card.dataset.status = job.status;
      const ended = ["done", "failed", "cancelled"].includes(job.status);
      if (shownPoints === null) shownPoints = job.loss_curve.length;
      if (ended || (polls % RELOAD_EVERY === 0 && job.loss_curve.length !== shownPoints)) {
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
