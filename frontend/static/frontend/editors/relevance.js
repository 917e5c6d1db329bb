/* The relevance editor: grade the retrieved candidates of one query object.
 *
 * Keys: 1-5 (with or without Shift, so layouts that need Shift for digits work), Left/Right and
 * Tab/Shift+Tab pick the focused slot; a grade key grades it and moves to the next slot, so typing
 * "essnm" fills all five in order; Backspace clears. The session (session.js) submits with Enter,
 * skips with K and opens the guide with ? or G. Contract: docs/TASK_KINDS.md.
 */
(function () {
  "use strict";

  const DIGIT_CODES = { Digit1: 0, Digit2: 1, Digit3: 2, Digit4: 3, Digit5: 4, Digit6: 5, Digit7: 6, Digit8: 7,
    Digit9: 8, Numpad1: 0, Numpad2: 1, Numpad3: 2, Numpad4: 3, Numpad5: 4, Numpad6: 5, Numpad7: 6, Numpad8: 7,
    Numpad9: 8 };

  function create({ host, task, context, draft, initialAnswer, onChange }) {
    const gradeDefinitions = context.grades;
    const gradeByKey = new Map(gradeDefinitions.map((g) => [g.key, g]));
    const gradeByValue = new Map(gradeDefinitions.map((g) => [g.value, g]));
    const payload = task.payload;
    const query = payload.query_object || {};
    const candidates = payload.candidates || [];

    const el = {
      crop: host.querySelector("#query-crop"),
      category: host.querySelector("#query-category"),
      sceneThumb: host.querySelector("#scene-thumb"),
      sceneImage: host.querySelector("#scene-image"),
      sceneBox: host.querySelector("#scene-box"),
      candidates: host.querySelector("#candidates"),
      template: host.querySelector("#candidate-template"),
      gradedCount: host.querySelector("#graded-count"),
    };

    const state = { grades: new Array(candidates.length).fill(null), focus: 0 };
    const saved = (draft && draft.grades) || (initialAnswer && initialAnswer.grades);
    if (Array.isArray(saved) && saved.length === candidates.length) {
      state.grades = saved.map((grade) => (gradeByValue.has(grade) ? grade : null));
      if (draft && Number.isInteger(draft.focus)) state.focus = Math.min(Math.max(draft.focus, 0), candidates.length - 1);
    }

    /* ---------- rendering ---------- */

    function renderScene() {
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

    function renderCandidate(candidate, index) {
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
      if (query.category && candidate.category && candidate.category !== query.category) {
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
      onChange();
    }

    function setGrade(index, grade, { advance }) {
      state.grades[index] = grade;
      state.focus = advance && index < state.grades.length - 1 ? index + 1 : index;
      paint();
      onChange();
    }

    function clearGrade(index) {
      state.grades[index] = null;
      paint();
      onChange();
    }

    function missingMessage(missingSlots) {
      const names = missingSlots.map((i) => i + 1);
      return names.length === 1
        ? "Slot " + names[0] + " has no grade yet."
        : "Slots " + names.slice(0, -1).join(", ") + " and " + names[names.length - 1] + " have no grade yet.";
    }

    function answer() {
      const missing = state.grades.map((g, i) => (g ? -1 : i)).filter((i) => i >= 0);
      if (missing.length) {
        state.focus = missing[0];
        paint();
        for (const i of missing) el.candidates.children[i].classList.add("missing");
        return { ok: false, message: missingMessage(missing) };
      }
      return { ok: true, answer: { grades: state.grades.slice() } };
    }

    function onKey(event) {
      if (event.ctrlKey || event.metaKey || event.altKey) return false;
      const key = event.key;
      if (event.code in DIGIT_CODES && DIGIT_CODES[event.code] < state.grades.length) {
        setFocus(DIGIT_CODES[event.code]);
        return true;
      }
      if (key === "ArrowRight" || (key === "Tab" && !event.shiftKey)) {
        setFocus(state.focus + 1);
        return true;
      }
      if (key === "ArrowLeft" || (key === "Tab" && event.shiftKey)) {
        setFocus(state.focus - 1);
        return true;
      }
      if (key === "Backspace" || key === "Delete") {
        clearGrade(state.focus);
        return true;
      }
      const lower = key.toLowerCase();
      if (gradeByKey.has(lower)) {
        setGrade(state.focus, gradeByKey.get(lower).value, { advance: true });
        return true;
      }
      return false;
    }

    el.crop.src = query.crop_url || "";
    el.category.textContent = query.category || "unknown";
    renderScene();
    el.candidates.replaceChildren(...candidates.map(renderCandidate));
    paint();

    return {
      answer,
      onKey,
      draft: () => ({ grades: state.grades.slice(), focus: state.focus }),
      destroy: () => { el.candidates.replaceChildren(); },
    };
  }

  window.ShopEditors = window.ShopEditors || {};
  window.ShopEditors.relevance = { create };
})();
