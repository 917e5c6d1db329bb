/* The guide editor's live preview: the text is sent to POST /api/v1/guides/preview after a short
 * pause and the answer's HTML (rendered and sanitised by the server, the one renderer labelers'
 * pages use too) replaces the preview. Only the server's escaped output is ever inserted. */
(function () {
  "use strict";

  const form = document.getElementById("guide-form");
  if (!form) return;
  const api = window.ShopApi;
  const input = document.getElementById("guide-body-input");
  const preview = document.getElementById("guide-preview");
  const state = document.getElementById("guide-preview-state");
  let timer = null;
  let sent = 0;

  async function refresh() {
    const mine = ++sent;
    state.textContent = "updating…";
    try {
      const response = await api.post(form.dataset.previewUrl, { body: input.value });
      if (mine !== sent) return; // a newer edit's answer is on its way
      preview.innerHTML = response.data.html;
      state.textContent = "as labelers see it";
      form.dataset.previewed = String(mine);
    } catch (error) {
      if (mine === sent) state.textContent = "preview failed: " + error.message;
    }
  }

  input.addEventListener("input", () => {
    clearTimeout(timer);
    timer = setTimeout(refresh, 250);
  });
  form.dataset.ready = "1"; // tests and people may type from here on
})();
