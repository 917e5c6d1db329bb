/* Polls a model version's running offline evaluation and moves its progress bar; once it is done
 * or failed, reloads the page, whose tables and curve come from the server. */
(function () {
  "use strict";

  const POLL_MS = 1000;
  const card = document.getElementById("offline-progress");
  if (!card) return;
  const bar = card.querySelector("[data-testid=offline-bar]");
  const count = card.querySelector("[data-testid=offline-count]");
  const step = card.querySelector("[data-testid=offline-step]");
  const status = card.querySelector("[data-testid=offline-status]");

  async function poll() {
    try {
      const evaluation = (await window.ShopApi.get(card.dataset.statusUrl)).data;
      count.textContent = evaluation.steps_done + " / " + evaluation.steps_total;
      step.textContent = evaluation.step;
      status.textContent = evaluation.status_display;
      bar.style.width = (evaluation.steps_total ? 100 * evaluation.steps_done / evaluation.steps_total : 0) + "%";
      card.dataset.status = evaluation.status;
      if (evaluation.status === "done" || evaluation.status === "failed") {
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
