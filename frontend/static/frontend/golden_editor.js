/* The expert's golden-answer page: the kind's editor in expert mode on one task, saved to the
 * task's golden-answer endpoint (which makes a golden item, or revises the one the task serves).
 * Enter saves (unless a text field has focus); the editor takes every other key. */
(function () {
  "use strict";

  const root = document.getElementById("golden-editor");
  if (!root) return;
  const api = window.ShopApi;
  const editorModule = (window.ShopEditors || {})[root.dataset.kind];
  const context = JSON.parse(document.getElementById("editor-context").textContent);
  const task = JSON.parse(document.getElementById("expert-task").textContent);
  const initialAnswer = JSON.parse(document.getElementById("initial-answer").textContent);
  const message = document.getElementById("grader-message");
  const reason = document.getElementById("golden-reason");
  const save = document.getElementById("save-golden");

  function say(text, tone) {
    message.textContent = text || "";
    message.className = "grader-message" + (text ? " " + (tone || "info") : "");
  }

  const editor = editorModule.create({
    host: document.getElementById("editor-host"), task, context, draft: null, initialAnswer, mode: "expert",
    onChange: () => { if (message.classList.contains("error")) say(""); },
  });

  let busy = false;

  async function saveAnswer() {
    if (busy) return;
    const result = editor.answer();
    if (!result.ok) {
      say(result.message, "error");
      return;
    }
    busy = true;
    save.disabled = true;
    say("Saving…", "info");
    try {
      const response = await api.post(root.dataset.goldenAnswerUrl, { answer: result.answer, reason: reason.value });
      const item = response.data.item;
      root.dataset.saved = String(item.id);
      say("Saved: golden item #" + item.id + ", revision " + item.revision + ".", "ok");
    } catch (error) {
      say(error.message + (error.fields ? " " + JSON.stringify(error.fields) : ""), "error");
    } finally {
      busy = false;
      save.disabled = false;
    }
  }

  document.addEventListener("keydown", (event) => {
    if (event.target === reason) return;
    if (editor.onKey(event)) {
      event.preventDefault();
      return;
    }
    if (event.key === "Enter" && !event.ctrlKey && !event.metaKey && !event.altKey) {
      event.preventDefault();
      saveAnswer();
    }
  });
  save.addEventListener("click", () => { save.blur(); saveAnswer(); });
})();
