/* Relevance grading page: claim a task, grade the five candidates with the keyboard, submit, repeat.
 *
 * Keys: 1-5 (with or without Shift, so layouts that need Shift for digits work), Left/Right and
 * Tab/Shift+Tab pick the focused slot; a grade key grades it and moves to the next slot, so typing
 * "essnm" fills all five in order; Backspace clears; Enter submits; K skips; ? or G opens the guide,
 * Esc closes it. Every call goes through the public REST API.
 */
(function () {
  "use strict";

  const SUBMIT_ATTEMPTS = 5;
  const RETRY_BASE_DELAY_MS = 400;
  const LEASE_LOW_SECONDS = 60;

  const root = document.getElementById("grader");
  if (!root) return;
  const api = window.ShopApi;
  const gradeDefinitions = JSON.parse(document.getElementById("grade-definitions").textContent);
  const gradeByKey = new Map(gradeDefinitions.map((g) => [g.key, g]));
  const gradeByValue = new Map(gradeDefinitions.map((g) => [g.value, g]));

  const el = {
    loading: document.getElementById("grader-loading"),
    empty: document.getElementById("grader-empty"),
    emptySummary: document.getElementById("empty-session-summary"),
    task: document.getElementById("grader-task"),
    crop: document.getElementById("query-crop"),
    category: document.getElementById("query-category"),
    sceneThumb: document.getElementById("scene-thumb"),
    sceneImage: document.getElementById("scene-image"),
    sceneBox: document.getElementById("scene-box"),
    candidates: document.getElementById("candidates"),
    template: document.getElementById("candidate-template"),
    message: document.getElementById("grader-message"),
    gradedCount: document.getElementById("graded-count"),
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
  };

  const state = {
    // loading | claim_failed | task | busy (a call is in flight) | empty | stale (the task can't be submitted any more)
    mode: "loading",
    assignment: null,
    grades: [],
    focus: 0,
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
    el.loading.hidden = !(mode === "loading" || mode === "claim_failed");
    el.empty.hidden = mode !== "empty";
    el.task.hidden = !(mode === "task" || mode === "busy" || mode === "stale");
    el.submit.disabled = mode !== "task";
    el.skip.disabled = mode !== "task";
    root.dataset.mode = mode;
  }

  function say(text, kind) {
    el.message.textContent = text || "";
    el.message.className = "grader-message" + (text ? " " + (kind || "info") : "");
  }

  /* ---------- rendering ---------- */

  function renderTask(assignment) {
    const payload = assignment.task.payload;
    const query = payload.query_object || {};
    el.crop.src = query.crop_url || "";
    el.category.textContent = query.category || "unknown";
    renderScene(query);
    el.candidates.replaceChildren();
    (payload.candidates || []).forEach((candidate, index) => {
      el.candidates.appendChild(renderCandidate(candidate, index, query.category));
    });
    state.grades = new Array((payload.candidates || []).length).fill(null);
    state.focus = 0;
    paint();
  }

  function renderScene(query) {
    el.sceneBox.hidden = true;
    if (!query.scene_url) {
      el.sceneThumb.hidden = true;
      return;
    }
    el.sceneThumb.hidden = false;
    el.sceneImage.onload = () => placeBox(query.box);
    el.sceneImage.onerror = () => { el.sceneThumb.hidden = true; };
    el.sceneImage.src = query.scene_url;
  }

  /* Boxes are in scene pixels; draw them in percent so the thumbnail can be any size. */
  function placeBox(box) {
    const width = el.sceneImage.naturalWidth;
    const height = el.sceneImage.naturalHeight;
    if (!Array.isArray(box) || box.length !== 4 || !width || !height) return;
    const [x0, y0, x1, y1] = box;
    Object.assign(el.sceneBox.style, {
      left: (100 * x0 / width) + "%",
      top: (100 * y0 / height) + "%",
      width: (100 * (x1 - x0) / width) + "%",
      height: (100 * (y1 - y0) / height) + "%",
    });
    el.sceneBox.hidden = false;
  }

  function renderCandidate(candidate, index, queryCategory) {
    const card = el.template.content.firstElementChild.cloneNode(true);
    card.dataset.slot = String(index + 1);
    card.setAttribute("data-testid", "candidate-" + (index + 1));
    card.querySelector(".slot").textContent = String(index + 1);
    const image = card.querySelector(".img img");
    image.alt = "Candidate " + (index + 1);
    image.addEventListener("error", () => {
      const broken = document.createElement("div");
      broken.className = "broken";
      broken.textContent = "Image did not load — grade D";
      image.replaceWith(broken);
    });
    image.src = candidate.image_url || "";
    card.querySelector(".pid").textContent = candidate.product_id != null ? "#" + candidate.product_id : "";
    const chip = card.querySelector(".chip.cat");
    chip.textContent = candidate.category || "";
    if (queryCategory && candidate.category && candidate.category !== queryCategory) {
      chip.classList.add("mismatch");
      chip.title = "Different category from the query object";
    }
    card.addEventListener("click", (event) => {
      const button = event.target.closest(".grade-btn");
      if (button) {
        setGrade(index, button.dataset.grade, { advance: false });
        button.blur();
      } else {
        setFocus(index);
      }
    });
    return card;
  }

  function paint() {
    const cards = el.candidates.children;
    const graded = state.grades.filter(Boolean).length;
    el.gradedCount.textContent = state.grades.length ? graded + " of " + state.grades.length + " graded" : "";
    for (let i = 0; i < cards.length; i++) {
      const card = cards[i];
      const grade = state.grades[i];
      card.className = "cand" + (i === state.focus ? " focused" : "") + (grade ? " graded-" + grade : "");
      card.dataset.grade = grade || "";
      card.setAttribute("aria-label", "Slot " + (i + 1) + (grade ? ": " + gradeByValue.get(grade).label : ": not graded"));
      let tag = card.querySelector(".graded-tag");
      if (grade) {
        if (!tag) {
          tag = document.createElement("span");
          card.querySelector(".img").appendChild(tag);
        }
        tag.className = "graded-tag bg-" + grade;
        tag.textContent = gradeByValue.get(grade).label;
      } else if (tag) {
        tag.remove();
      }
      card.querySelectorAll(".grade-btn").forEach((button) => {
        button.classList.toggle("selected", button.dataset.grade === grade);
        button.setAttribute("aria-pressed", button.dataset.grade === grade ? "true" : "false");
      });
    }
  }

  /* ---------- grading ---------- */

  function setFocus(index) {
    if (!state.grades.length) return;
    state.focus = (index + state.grades.length) % state.grades.length;
    paint();
  }

  function setGrade(index, grade, { advance }) {
    if (state.mode !== "task") return;
    state.grades[index] = grade;
    if (el.message.classList.contains("error")) say("");
    if (advance && index < state.grades.length - 1) {
      state.focus = index + 1;
    } else {
      state.focus = index;
    }
    paint();
    if (state.grades.every(Boolean)) {
      say("All slots graded — press Enter to submit.", "info");
    }
  }

  function clearGrade(index) {
    if (state.mode !== "task") return;
    state.grades[index] = null;
    say("");
    paint();
  }

  function showMissing(missingSlots) {
    const names = missingSlots.map((i) => i + 1);
    const text = names.length === 1
      ? "Slot " + names[0] + " has no grade yet."
      : "Slots " + names.slice(0, -1).join(", ") + " and " + names[names.length - 1] + " have no grade yet.";
    say(text, "error");
    state.focus = missingSlots[0];
    paint();
    for (const i of missingSlots) el.candidates.children[i].classList.add("missing");
  }

  /* ---------- API calls ---------- */

  async function claimNext() {
    el.loading.querySelector(".big").textContent = "Loading the next task…";
    show("loading");
    say("");
    stopLease();
    state.assignment = null;
    let result;
    try {
      result = await api.post(root.dataset.claimUrl, {});
    } catch (error) {
      el.loading.querySelector(".big").textContent =
        "Could not load a task: " + error.message + " Press Enter to try again.";
      show("claim_failed");
      return;
    }
    refreshRemaining();
    if (result.status === 204 || !result.data || !result.data.assignment) {
      el.emptySummary.textContent = state.sessionCount
        ? "You graded " + state.sessionCount + (state.sessionCount === 1 ? " task" : " tasks") + " in this session."
        : "";
      show("empty");
      return;
    }
    const assignment = result.data.assignment;
    state.assignment = assignment;
    // One key per assignment: every retry of its submit sends the same key, so the server stores
    // the label at most once however often the network drops the answer.
    state.idempotencyKey = api.newIdempotencyKey();
    renderTask(assignment);
    startLease(assignment.expires_at, result.serverDate);
    state.shownAt = performance.now();
    root.dataset.assignmentId = String(assignment.id);
    show("task");
  }

  function delay(ms) {
    return new Promise((resolve) => window.setTimeout(resolve, ms));
  }

  async function submit() {
    if (state.mode === "stale" || state.mode === "claim_failed") {
      claimNext();
      return;
    }
    if (state.mode !== "task") return;
    const missing = state.grades.map((g, i) => (g ? -1 : i)).filter((i) => i >= 0);
    if (missing.length) {
      showMissing(missing);
      return;
    }
    show("busy");
    say("Saving…", "info");
    const body = {
      answer: { grades: state.grades.slice() },
      time_spent_ms: Math.max(0, Math.round(performance.now() - state.shownAt)),
    };
    const headers = { "Idempotency-Key": state.idempotencyKey };
    const url = assignmentUrl(state.assignment.id, "submit");
    for (let attempt = 1; attempt <= SUBMIT_ATTEMPTS; attempt++) {
      try {
        await api.post(url, body, headers);
        state.sessionCount += 1;
        el.sessionCount.textContent = String(state.sessionCount);
        await claimNext();
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
    try {
      await api.post(assignmentUrl(state.assignment.id, "skip"), {});
    } catch (error) {
      if (error.retryable) {
        show("task");
        say("Could not skip: " + error.message, "error");
        return;
      }
      // The lease is gone already (expired or finished): nothing to give back, move on.
    }
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
      // The counter is informative only; grading goes on without it.
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

  const DIGIT_CODES = { Digit1: 0, Digit2: 1, Digit3: 2, Digit4: 3, Digit5: 4,
    Numpad1: 0, Numpad2: 1, Numpad3: 2, Numpad4: 3, Numpad5: 4 };

  function onKeyDown(event) {
    if (event.ctrlKey || event.metaKey || event.altKey) return;
    if (!el.guide.hidden) {
      if (event.key === "Escape" || event.key === "?" || event.key.toLowerCase() === "g") {
        event.preventDefault();
        closeGuide();
      }
      return;
    }
    const key = event.key;
    if (key === "?" || key.toLowerCase() === "g") {
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
    if (state.mode !== "task") return;
    if (event.code in DIGIT_CODES && DIGIT_CODES[event.code] < state.grades.length) {
      event.preventDefault();
      setFocus(DIGIT_CODES[event.code]);
      return;
    }
    if (key === "ArrowRight" || (key === "Tab" && !event.shiftKey)) {
      event.preventDefault();
      setFocus(state.focus + 1);
      return;
    }
    if (key === "ArrowLeft" || (key === "Tab" && event.shiftKey)) {
      event.preventDefault();
      setFocus(state.focus - 1);
      return;
    }
    if (key === "Backspace" || key === "Delete") {
      event.preventDefault();
      clearGrade(state.focus);
      return;
    }
    const lower = key.toLowerCase();
    if (lower === "k") {
      event.preventDefault();
      skip();
      return;
    }
    if (gradeByKey.has(lower)) {
      event.preventDefault();
      setGrade(state.focus, gradeByKey.get(lower).value, { advance: true });
    }
  }

  document.addEventListener("keydown", onKeyDown);
  el.submit.addEventListener("click", () => { el.submit.blur(); submit(); });
  el.skip.addEventListener("click", () => { el.skip.blur(); skip(); });
  el.openGuide.addEventListener("click", () => { el.openGuide.blur(); openGuide(); });
  el.closeGuide.addEventListener("click", closeGuide);
  el.guide.addEventListener("click", (event) => { if (event.target === el.guide) closeGuide(); });
  el.checkAgain.addEventListener("click", () => { el.checkAgain.blur(); claimNext(); });

  claimNext();
})();
