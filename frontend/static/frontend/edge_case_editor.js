/* "Make an edge case": the kind's editor in expert mode (as on the golden editor page); on submit
 * the editor's answer goes into the form's hidden field, or the form stays put with the editor's
 * message when the answer is not complete. */
(function () {
  "use strict";

  const root = document.getElementById("edge-case-editor");
  if (!root) return;
  const editorModule = (window.ShopEditors || {})[root.dataset.kind];
  const context = JSON.parse(document.getElementById("editor-context").textContent);
  const task = JSON.parse(document.getElementById("expert-task").textContent);
  const initialAnswer = JSON.parse(document.getElementById("initial-answer").textContent);
  const message = document.getElementById("grader-message");
  const form = document.getElementById("edge-case-form");
  const answerField = document.getElementById("edge-case-answer");

  function say(text, tone) {
    message.textContent = text || "";
    message.className = "grader-message" + (text ? " " + (tone || "info") : "");
  }

  const editor = editorModule.create({
    host: document.getElementById("editor-host"), task, context, draft: null, initialAnswer, mode: "expert",
    onChange: () => { if (message.classList.contains("error")) say(""); },
  });

  form.addEventListener("submit", (event) => {
    const result = editor.answer();
    if (!result.ok) {
      event.preventDefault();
      say(result.message, "error");
      return;
    }
    answerField.value = JSON.stringify(result.answer);
  });

  document.addEventListener("keydown", (event) => {
    if (event.target.closest && event.target.closest("form")) return; // typing the rule or the reason
    if (editor.onKey(event)) event.preventDefault();
  });
  root.dataset.ready = "1";
})();
