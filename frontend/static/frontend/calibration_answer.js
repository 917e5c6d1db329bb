/* A calibration session's item, answered blind in the kind's editor (the editor contract of
 * docs/TASK_KINDS.md, as the work page uses it). The answer goes in the page's form as JSON and the
 * form posts to the session page, which stores it and shows the next item. Enter submits (unless a
 * text field has focus); the editor takes every other key. session.js is not involved. */
(function () {
  "use strict";

  const root = document.getElementById("calibration-answer");
  if (!root) return;
  const editorModule = (window.ShopEditors || {})[root.dataset.kind];
  const context = JSON.parse(document.getElementById("editor-context").textContent);
  const task = JSON.parse(document.getElementById("calibration-task").textContent);
  const form = document.getElementById("calibration-answer-form");
  const field = document.getElementById("calibration-answer-field");
  const message = document.getElementById("grader-message");
  const submit = document.getElementById("calibration-submit");

  function say(text, tone) {
    message.textContent = text || "";
    message.className = "grader-message" + (text ? " " + (tone || "info") : "");
  }

  const editor = editorModule.create({
    host: document.getElementById("editor-host"), task, context, draft: null, initialAnswer: null, mode: "label",
    onChange: () => { if (message.classList.contains("error")) say(""); },
  });
  root.dataset.ready = "true";

  let sent = false;

  function send() {
    if (sent) return;
    const result = editor.answer();
    if (!result.ok) {
      say(result.message, "error");
      return;
    }
    sent = true;
    submit.disabled = true;
    field.value = JSON.stringify(result.answer);
    say("Saving…", "info");
    form.submit();
  }

  document.addEventListener("keydown", (event) => {
    if (event.target instanceof HTMLTextAreaElement || event.target instanceof HTMLInputElement) return;
    if (editor.onKey(event)) {
      event.preventDefault();
      return;
    }
    if (event.key === "Enter" && !event.ctrlKey && !event.metaKey && !event.altKey) {
      event.preventDefault();
      send();
    }
  });
  submit.addEventListener("click", (event) => { event.preventDefault(); submit.blur(); send(); });
})();
