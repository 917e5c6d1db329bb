/* The qualification page: drive the queue kind's editor (the same editor module the work page's
 * session.js uses, docs/TASK_KINDS.md) through the qualification API, one golden item at a time.
 * After each answer the expert's answer is shown in the editor and as text, with the reason and
 * whether the labeler was right; after the last, the result and what to do next.
 * Keys: Enter submits, or moves on after the feedback. Every other key goes to the editor first.
 */
(function () {
  "use strict";

  const root = document.getElementById("qualification");
  if (!root) return;
  const api = window.ShopApi;
  const kind = root.dataset.kind;
  const editorModule = (window.ShopEditors || {})[kind];
  const context = JSON.parse(document.getElementById("editor-context").textContent);
  const $ = (id) => document.getElementById(id);
  const el = {
    intro: $("qualify-intro"), standing: $("qualify-standing"), start: $("qualify-start"),
    result: $("qualify-result"), resultTitle: $("qualify-result-title"), resultText: $("qualify-result-text"),
    goWork: $("qualify-go-work"), retry: $("qualify-retry"),
    task: $("qualify-task"), position: $("qualify-position"), total: $("qualify-total"), host: $("editor-host"),
    feedback: $("qualify-feedback"), verdict: $("qualify-verdict"), reason: $("qualify-reason"),
    expertAnswer: $("qualify-expert-answer"), message: $("qualify-message"),
    submit: $("qualify-submit"), next: $("qualify-next"),
  };
  // intro | item | busy | feedback | result
  const state = { mode: "intro", item: null, editor: null, justFinished: false };

  function say(text, tone) {
    el.message.textContent = text || "";
    el.message.className = "grader-message" + (text ? " " + (tone || "info") : "");
  }

  // .btn sets its own display, which beats the hidden attribute: hide buttons through style too.
  function toggle(element, visible) {
    element.hidden = !visible;
    element.style.display = visible ? "" : "none";
  }

  function show(mode) {
    state.mode = mode;
    root.dataset.mode = mode;
    el.intro.hidden = mode !== "intro";
    el.result.hidden = mode !== "result";
    el.task.hidden = !(mode === "item" || mode === "busy" || mode === "feedback");
    el.feedback.hidden = mode !== "feedback";
    toggle(el.submit, mode !== "feedback");
    el.submit.disabled = mode !== "item";
    toggle(el.next, mode === "feedback");
  }

  function mount(item, initialAnswer) {
    if (state.editor) state.editor.destroy();
    state.editor = editorModule.create({
      host: el.host, task: { id: item.id, kind: item.kind, payload: item.payload }, context, draft: null,
      initialAnswer: initialAnswer || null, mode: "label", onChange: () => say(""),
    });
  }


  // An answer as lines a person reads: "grades: 1 similar · 2 not_similar …"; nested values as compact JSON.
  function readableAnswer(answer) {
    if (!answer || typeof answer !== "object" || Array.isArray(answer)) return JSON.stringify(answer);
    return Object.keys(answer).map((key) => {
      const value = answer[key];
      const scalars = Array.isArray(value) && value.every((v) => v === null || typeof v !== "object");
      const text = scalars ? value.map((v, i) => (i + 1) + " " + String(v).replace(/_/g, " ")).join(" · ")
        : JSON.stringify(value);
      return key.replace(/_/g, " ") + ": " + text;
    }).join("\n");
  }

  function pct(share) {
    return Math.round(share * 100) + "%";
  }

  /* What the page shows for a status (GET) or a start (POST): the open attempt's next item, or the result. */
  function render(status) {
    const attempt = status.attempt;
    if (attempt && attempt.status === "in_progress" && attempt.next_item) {
      state.item = attempt.next_item;
      el.position.textContent = String(attempt.answered + 1);
      el.total.textContent = String(attempt.n_items);
      show("item");
      say("");
      mount(attempt.next_item, null);
      return;
    }
    const finished = attempt && attempt.status !== "in_progress";
    if (finished && (state.justFinished || status.may_claim)) {
      state.justFinished = false;
      const passed = status.may_claim;
      el.resultTitle.textContent = passed ? "You passed: " + pct(attempt.score) : "Not passed yet: " + pct(attempt.score);
      el.resultText.textContent = passed
        ? "You scored " + pct(attempt.score) + " (the pass mark is " + pct(attempt.pass_mark) + "). You can label this queue now."
        : "You scored " + pct(attempt.score) + "; the pass mark is " + pct(attempt.pass_mark) +
          ". Read the guide and the expert's reasons, then try again with a fresh draw.";
      toggle(el.goWork, passed);
      toggle(el.retry, !passed);
      show("result");
      return;
    }
    let why = "This queue gives tasks only to labelers who passed its qualification for the current guide version.";
    if (status.flagged) {
      why = "Your recent golden accuracy (" + pct(status.flag_accuracy) + ") fell below this queue's " +
        pct(status.flag_threshold) + ". Pass the qualification to get tasks again.";
    } else if (finished && attempt.status === "passed") {
      why = "The guide changed since you qualified: qualify again for the current version.";
    } else if (finished) {
      why = "Your last attempt scored " + pct(attempt.score) + "; the pass mark is " + pct(attempt.pass_mark) + ". Try again.";
    }
    el.standing.textContent = why;
    show("intro");
  }

  async function load(url, method) {
    say("");
    try {
      const result = method === "POST" ? await api.post(url, {}) : await api.get(url);
      render(result.data);
    } catch (error) {
      el.standing.textContent = error.message;
      show("intro");
    }
  }

  async function submit() {
    if (state.mode !== "item" || !state.editor) return;
    const result = state.editor.answer();
    if (!result.ok) {
      say(result.message, "error");
      return;
    }
    show("busy");
    say("Checking…", "info");
    try {
      const answered = await api.post(root.dataset.answerUrl, { golden_item: state.item.id, answer: result.answer });
      const data = answered.data;
      state.justFinished = data.attempt.status !== "in_progress";
      el.verdict.textContent = data.correct ? "Right: your answer matches the expert's." :
        "Not quite: your score on this item is " + pct(data.score) + ".";
      el.verdict.className = data.correct ? "ok" : "error";
      el.reason.textContent = data.reason || "(the expert gave no reason)";
      el.expertAnswer.textContent = readableAnswer(data.expert_answer);
      mount(state.item, data.expert_answer);
      say("");
      show("feedback");
    } catch (error) {
      show("item");
      say(error.message + (error.fields ? " " + JSON.stringify(error.fields) : ""), "error");
    }
  }

  function next() {
    if (state.mode !== "feedback") return;
    load(root.dataset.statusUrl, "GET");
  }

  document.addEventListener("keydown", (event) => {
    if (state.mode === "item" && state.editor && state.editor.onKey(event)) {
      event.preventDefault();
      return;
    }
    if (event.key !== "Enter" || event.ctrlKey || event.metaKey || event.altKey) return;
    event.preventDefault();
    if (state.mode === "item") submit();
    else if (state.mode === "feedback") next();
  });
  el.submit.addEventListener("click", () => { el.submit.blur(); submit(); });
  el.next.addEventListener("click", () => { el.next.blur(); next(); });
  // Every button blurs itself on click, so Enter afterwards is the page's key and not a second click.
  el.start.addEventListener("click", () => { el.start.blur(); load(root.dataset.startUrl, "POST"); });
  el.retry.addEventListener("click", () => { el.retry.blur(); load(root.dataset.startUrl, "POST"); });

  if (!editorModule) {
    el.standing.textContent = "This page has no editor for " + kind + " tasks.";
    show("intro");
    return;
  }
  load(root.dataset.statusUrl, "GET");
})();
