/* The labeling session, for every task kind: claim a task, hand it to the kind's editor, submit the
 * editor's answer with an idempotency key (retried on network faults), skip, count the lease down and
 * keep a draft of the editor's state in localStorage so a reload loses nothing.
 *
 * The session/editor contract is in docs/TASK_KINDS.md. Session keys, whatever the kind: Enter
 * submits, K skips, ? or G opens the guide, Esc closes it. Every other key goes to the editor first.
 * Every call goes through the public REST API (api.js).
 */
(function () {
  "use strict";

  const SUBMIT_ATTEMPTS = 5;
  const RETRY_BASE_DELAY_MS = 400;
  const LEASE_LOW_SECONDS = 60;
  const DRAFT_PREFIX = "shoplabel:draft:";
  const DRAFT_MAX_AGE_MS = 24 * 3600 * 1000;
  const DRAFT_SAVE_DELAY_MS = 150;

  const root = document.getElementById("grader");
  if (!root) return;
  const api = window.ShopApi;
  const kind = root.dataset.kind;
  const editorModule = (window.ShopEditors || {})[kind];
  const context = JSON.parse(document.getElementById("editor-context").textContent);

  const el = {
    loading: document.getElementById("grader-loading"),
    empty: document.getElementById("grader-empty"),
    emptySummary: document.getElementById("empty-session-summary"),
    task: document.getElementById("grader-task"),
    host: document.getElementById("editor-host"),
    message: document.getElementById("grader-message"),
    sessionCount: document.getElementById("session-count"),
    remaining: document.getElementById("queue-remaining"),
    lease: document.getElementById("lease"),
    leaseCountdown: document.getElementById("lease-countdown"),
    guide: document.getElementById("guide-overlay"),
    openGuide: document.getElementById("open-guide"),
    closeGuide: document.getElementById("close-guide"),
    submit: document.getElementById("submit-button"),
    skip: document.getElementById("skip-button"),
    checkAgain: document.getElementById("check-again"),
    draftState: document.getElementById("draft-state"),
  };

  // Claim's refusals that name a page to go to (qualification, a re-calibration flag): the message
  // carries the qualify URL, shown as a link (labeling/calibration/CALIBRATION_qualification.md).
  const STANDING_REFUSALS = ["qualification_required", "labeler_flagged"];

  const state = {
    // loading | claim_failed | refused (claim said why and where to go) | task | busy (a call is in
    // flight) | feedback (the expert's answer to the golden item just submitted) | empty | stale
    mode: "loading",
    pendingNext: null,
    assignment: null,
    editor: null,
    idempotencyKey: null,
    shownAt: 0,
    leaseDeadline: 0,
    sessionCount: 0,
  };

  function assignmentUrl(assignmentId, action) {
    return root.dataset.assignmentUrlTemplate.replace("{id}", String(assignmentId)).replace("{action}", action);
  }

  function show(mode) {
    state.mode = mode;
    el.loading.hidden = !(mode === "loading" || mode === "claim_failed" || mode === "refused");
    feedbackPanel().hidden = mode !== "feedback";
    el.empty.hidden = mode !== "empty";
    el.task.hidden = !(mode === "task" || mode === "busy" || mode === "stale");
    el.submit.disabled = mode !== "task";
    el.skip.disabled = mode !== "task";
    root.dataset.mode = mode;
  }

  function say(text, tone) {
    el.message.textContent = text || "";
    el.message.className = "grader-message" + (text ? " " + (tone || "info") : "");
  }

  /* ---------- drafts ---------- */

  // A draft is keyed by assignment: a reload claims again, gets the same live lease back, and the
  // editor restores what the labeler had done. The idempotency key is kept with it, so a submit
  // that reached the server before the reload is not stored twice.
  function draftKey(assignmentId) {
    return DRAFT_PREFIX + assignmentId;
  }

  function draftRead(assignmentId) {
    try {
      const raw = window.localStorage.getItem(draftKey(assignmentId));
      if (!raw) return null;
      const draft = JSON.parse(raw);
      return draft && draft.kind === kind ? draft : null;
    } catch (error) {
      return null;
    }
  }

  let draftTimer = null;

  function draftSaveSoon() {
    if (draftTimer) window.clearTimeout(draftTimer);
    draftTimer = window.setTimeout(draftSaveNow, DRAFT_SAVE_DELAY_MS);
  }

  function draftSaveNow() {
    draftTimer = null;
    if (!state.assignment || !state.editor) return;
    try {
      window.localStorage.setItem(draftKey(state.assignment.id), JSON.stringify({
        kind, savedAt: Date.now(), idempotencyKey: state.idempotencyKey, state: state.editor.draft(),
      }));
      if (el.draftState) el.draftState.textContent = "Draft saved";
    } catch (error) {
      // Storage full or disabled (private mode): labeling goes on, only a reload would lose work.
      if (el.draftState) el.draftState.textContent = "Draft not saved";
    }
  }

  function draftDrop(assignmentId) {
    if (draftTimer) window.clearTimeout(draftTimer);
    draftTimer = null;
    try {
      window.localStorage.removeItem(draftKey(assignmentId));
    } catch (error) {
      // Nothing to clean up when storage is unavailable.
    }
  }

  function draftsPrune() {
    try {
      const now = Date.now();
      for (let i = window.localStorage.length - 1; i >= 0; i--) {
        const key = window.localStorage.key(i);
        if (!key || !key.startsWith(DRAFT_PREFIX)) continue;
        const draft = JSON.parse(window.localStorage.getItem(key) || "null");
        if (!draft || !(now - draft.savedAt < DRAFT_MAX_AGE_MS)) window.localStorage.removeItem(key);
      }
    } catch (error) {
      // Pruning is housekeeping only.
    }
  }

  /* ---------- the task ---------- */

  function mountEditor(assignment, draft) {
    if (state.editor) state.editor.destroy();
    state.editor = editorModule.create({
      host: el.host,
      task: assignment.task,
      context,
      draft: draft ? draft.state : null,
      initialAnswer: null,
      mode: "label",
      onChange: () => {
        if (el.message.classList.contains("error")) say("");
        draftSaveSoon();
      },
    });
  }

  async function claimNext() {
    el.loading.querySelector(".big").textContent = "Loading the next task…";
    show("loading");
    say("");
    stopLease();
    state.assignment = null;
    if (el.draftState) el.draftState.textContent = "";
    let result;
    try {
      result = await api.post(root.dataset.claimUrl, {});
    } catch (error) {
      if (STANDING_REFUSALS.includes(error.code)) {
        showRefusal(error.message);
        return;
      }
      el.loading.querySelector(".big").textContent =
        "Could not load a task: " + error.message + " Press Enter to try again.";
      show("claim_failed");
      return;
    }
    present(result.status === 204 || !result.data ? null : result.data.assignment, result.serverDate);
  }

  /* ---------- qualification refusals and immediate feedback ---------- */

  // The refusal's text, with the page it names (a path like /queues/7/qualify/) made a link.
  function showRefusal(message) {
    stopLease();
    if (state.editor) state.editor.destroy();
    state.editor = null;
    state.assignment = null;
    const big = el.loading.querySelector(".big");
    big.textContent = "";
    const match = /\/queues\/\d+\/qualify\//.exec(message);
    const text = document.createElement("span");
    text.dataset.testid = "claim-refusal";
    text.textContent = match ? message.slice(0, match.index) : message;
    big.appendChild(text);
    if (match) {
      const link = document.createElement("a");
      link.href = match[0];
      link.textContent = "the qualification page";
      link.dataset.testid = "qualify-link";
      big.appendChild(link);
      big.appendChild(document.createTextNode(message.slice(match.index + match[0].length)));
    }
    show("refused");
  }

  let feedbackElement = null;
  // The panel is built here, not in the template: only queues with immediate feedback ever show it.
  function feedbackPanel() {
    if (feedbackElement) return feedbackElement;
    feedbackElement = document.createElement("div");
    feedbackElement.className = "card feedback-panel";
    feedbackElement.dataset.testid = "golden-feedback";
    feedbackElement.hidden = true;
    feedbackElement.innerHTML = '<h3 data-testid="golden-feedback-verdict"></h3>' +
      '<p><b>Why:</b> <span data-testid="golden-feedback-reason"></span></p>' +
      '<p class="muted small">The expert\'s answer:</p><pre class="small" data-testid="golden-feedback-answer"></pre>' +
      '<p class="actions-row"><button class="btn primary" type="button" data-testid="golden-feedback-continue">' +
      'Continue <kbd>Enter</kbd></button></p>';
    feedbackElement.querySelector("button").addEventListener("click", (event) => { event.target.blur(); continueAfterFeedback(); });
    el.loading.parentNode.insertBefore(feedbackElement, el.loading);
    return feedbackElement;
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

  function showFeedback(feedback, next) {
    stopLease();
    const panel = feedbackPanel();
    panel.querySelector('[data-testid="golden-feedback-verdict"]').textContent = feedback.correct
      ? "That was a golden item, and your answer matches the expert's."
      : "That was a golden item, and your answer differs from the expert's (score " + Math.round(feedback.score * 100) + "%).";
    panel.querySelector('[data-testid="golden-feedback-reason"]').textContent = feedback.reason || "(the expert gave no reason)";
    panel.querySelector('[data-testid="golden-feedback-answer"]').textContent = readableAnswer(feedback.expert_answer);
    state.pendingNext = next;
    if (state.editor) state.editor.destroy();
    state.editor = null;
    show("feedback");
  }

  function continueAfterFeedback() {
    if (state.mode !== "feedback") return;
    const next = state.pendingNext;
    state.pendingNext = null;
    afterSubmit(next);
  }

  // What follows a stored label: the next task, or why there is none.
  function afterSubmit(next) {
    if (next.refusal && STANDING_REFUSALS.includes(next.refusal.code)) {
      showRefusal(next.refusal.message);
      return;
    }
    present(next.assignment, next.serverDate);
  }

  // Show a claimed lease (from a claim, or the `next` of a submit-and-claim), or the empty state.
  function present(assignment, serverDate) {
    stopLease();
    refreshRemaining();
    if (!assignment) {
      state.assignment = null;
      if (state.editor) state.editor.destroy();
      state.editor = null;
      el.emptySummary.textContent = state.sessionCount
        ? "You labeled " + state.sessionCount + (state.sessionCount === 1 ? " task" : " tasks") + " in this session."
        : "";
      show("empty");
      return;
    }
    const draft = draftRead(assignment.id);
    state.assignment = assignment;
    // One key per assignment: every retry of its submit sends the same key, so the server stores
    // the label at most once however often the network drops the answer.
    state.idempotencyKey = (draft && draft.idempotencyKey) || api.newIdempotencyKey();
    show("task");
    say("");
    mountEditor(assignment, draft);
    if (el.draftState) el.draftState.textContent = draft ? "Draft restored" : "";
    startLease(assignment.expires_at, serverDate);
    state.shownAt = performance.now();
    root.dataset.assignmentId = String(assignment.id);
  }

  function delay(ms) {
    return new Promise((resolve) => window.setTimeout(resolve, ms));
  }

  async function submit() {
    if (state.mode === "stale" || state.mode === "claim_failed" || state.mode === "refused") {
      claimNext();
      return;
    }
    if (state.mode === "feedback") {
      continueAfterFeedback();
      return;
    }
    if (state.mode !== "task" || !state.editor) return;
    const result = state.editor.answer();
    if (!result.ok) {
      say(result.message, "error");
      return;
    }
    show("busy");
    say("Saving…", "info");
    draftSaveNow();
    const body = {
      answer: result.answer,
      time_spent_ms: Math.max(0, Math.round(performance.now() - state.shownAt)),
    };
    const headers = { "Idempotency-Key": state.idempotencyKey };
    const assignmentId = state.assignment.id;
    // One request stores the label and hands back the next task of the queue (its retry, under the
    // same key, returns the same label and the same next task).
    const url = assignmentUrl(assignmentId, "submit-and-claim");
    for (let attempt = 1; attempt <= SUBMIT_ATTEMPTS; attempt++) {
      try {
        const stored = await api.post(url, body, headers);
        draftDrop(assignmentId);
        state.sessionCount += 1;
        el.sessionCount.textContent = String(state.sessionCount);
        if (el.draftState) el.draftState.textContent = "";
        const next = { assignment: stored.data ? stored.data.next : null, serverDate: stored.serverDate,
                       refusal: stored.data ? stored.data.next_refusal : null };
        if (stored.data && stored.data.feedback) showFeedback(stored.data.feedback, next);
        else afterSubmit(next);
        return;
      } catch (error) {
        if (error.retryable && attempt < SUBMIT_ATTEMPTS) {
          say("Connection problem (" + error.message + ") — retrying " + (attempt + 1) + "/" + SUBMIT_ATTEMPTS + "…", "error");
          await delay(RETRY_BASE_DELAY_MS * 2 ** (attempt - 1));
          continue;
        }
        if (error.retryable) {
          show("task");
          say("Your label is not saved yet: " + error.message + " Press Enter to try again; it will not be stored twice.", "error");
          return;
        }
        if (error.status === 400) {
          // The server refused the answer itself; the labeler can fix it and submit again.
          show("task");
          say(error.message + (error.fields ? " " + JSON.stringify(error.fields) : ""), "error");
          return;
        }
        if (error.status === 422) {
          // The answer changed after a submit under this key reached the server: a new key is
          // needed, and the server keeps the first answer only if the retry matches it.
          state.idempotencyKey = api.newIdempotencyKey();
        }
        draftDrop(assignmentId);
        show("stale");
        say(error.message + " Press Enter to load the next task.", "error");
        return;
      }
    }
  }

  async function skip() {
    if (state.mode !== "task") return;
    show("busy");
    say("Skipping…", "info");
    const assignmentId = state.assignment.id;
    try {
      await api.post(assignmentUrl(assignmentId, "skip"), {});
    } catch (error) {
      if (error.retryable) {
        show("task");
        say("Could not skip: " + error.message, "error");
        return;
      }
      // The lease is gone already (expired or finished): nothing to give back, move on.
    }
    draftDrop(assignmentId);
    await claimNext();
  }

  async function refreshRemaining() {
    const url = root.dataset.queueStatusUrl;
    if (!url) return;
    try {
      const result = await api.get(url);
      const listed = result.data && (Array.isArray(result.data) ? result.data : result.data.results);
      const queue = (listed || []).find((q) => String(q.id) === root.dataset.queueId);
      if (queue && queue.available_for_me !== undefined) el.remaining.textContent = String(queue.available_for_me);
    } catch (error) {
      // The counter is informative only; labeling goes on without it.
    }
  }

  /* ---------- lease countdown ---------- */

  let leaseTimer = null;

  function startLease(expiresAt, serverDate) {
    // Count down against the server's clock: a labeler's laptop clock may be minutes off.
    const skew = serverDate ? Date.parse(serverDate) - Date.now() : 0;
    state.leaseDeadline = Date.parse(expiresAt) - (Number.isFinite(skew) ? skew : 0);
    tickLease();
    leaseTimer = window.setInterval(tickLease, 1000);
  }

  function stopLease() {
    if (leaseTimer) window.clearInterval(leaseTimer);
    leaseTimer = null;
    el.leaseCountdown.textContent = "–";
    el.lease.classList.remove("low", "expired");
  }

  function tickLease() {
    const seconds = Math.max(0, Math.floor((state.leaseDeadline - Date.now()) / 1000));
    const minutes = Math.floor(seconds / 60);
    el.leaseCountdown.textContent = minutes + ":" + String(seconds % 60).padStart(2, "0");
    el.lease.classList.toggle("low", seconds > 0 && seconds <= LEASE_LOW_SECONDS);
    el.lease.classList.toggle("expired", seconds === 0);
    if (seconds === 0) {
      el.leaseCountdown.textContent = "expired";
      if (state.mode === "task" && !el.message.classList.contains("error")) {
        say("Your lease on this task expired; the server may refuse this answer. Press K to skip to a fresh task.", "error");
      }
    }
  }

  /* ---------- guide ---------- */

  function openGuide() {
    if (el.openGuide.disabled) return;
    el.guide.hidden = false;
    el.closeGuide.focus();
  }

  function closeGuide() {
    el.guide.hidden = true;
    el.closeGuide.blur();
  }

  /* ---------- keyboard ---------- */

  function onKeyDown(event) {
    if (!el.guide.hidden) {
      if (event.key === "Escape" || event.key === "?" || event.key.toLowerCase() === "g") {
        event.preventDefault();
        closeGuide();
      }
      return;
    }
    if (event.key === "?") {
      event.preventDefault();
      openGuide();
      return;
    }
    if (state.mode === "task" && state.editor && state.editor.onKey(event)) {
      event.preventDefault();
      return;
    }
    if (event.ctrlKey || event.metaKey || event.altKey) return;
    const key = event.key;
    if (key.toLowerCase() === "g") {
      event.preventDefault();
      openGuide();
      return;
    }
    if (key === "Enter") {
      event.preventDefault();
      if (state.mode === "empty") claimNext();
      else submit();
      return;
    }
    if (state.mode === "task" && key.toLowerCase() === "k") {
      event.preventDefault();
      skip();
    }
  }

  if (!editorModule) {
    el.loading.querySelector(".big").textContent = "This page has no editor for " + kind + " tasks.";
    return;
  }
  draftsPrune();
  document.addEventListener("keydown", onKeyDown);
  el.submit.addEventListener("click", () => { el.submit.blur(); submit(); });
  el.skip.addEventListener("click", () => { el.skip.blur(); skip(); });
  el.openGuide.addEventListener("click", () => { el.openGuide.blur(); openGuide(); });
  el.closeGuide.addEventListener("click", closeGuide);
  el.guide.addEventListener("click", (event) => { if (event.target === el.guide) closeGuide(); });
  el.checkAgain.addEventListener("click", () => { el.checkAgain.blur(); claimNext(); });
  window.addEventListener("beforeunload", draftSaveNow);

  claimNext();
})();
