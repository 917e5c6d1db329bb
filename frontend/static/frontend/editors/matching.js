/* The matching-pair cleanup editor: a creator tagged a product in a scene (a box and a category);
 * the labeler fixes the box and the category, says whether the product is the boxed item and flags
 * spam. The session (session.js) owns claiming, submitting and drafts; this module only turns one
 * pair into one answer (docs/TASK_KINDS.md).
 *
 * The scene is the box canvas (editors/box_canvas.js, loaded first) with one movable box, and the
 * creator's box as a faint outline once the labeler has changed it; the category search is the shared
 * picker (editors/category_picker.js, loaded before this). Everything else lives here: the category
 * the picker reports, the verdict, spam, reset, undo and the keys (listed on the
 * page, editors/matching.html). Enter, K, G and ? are the session's and never taken.
 */
(function () {
  "use strict";

  const KIND = "matching_pair";
  const DRAFT_VERSION = 1;
  const BOX = { layer: "box", index: 0 };
  // Amber reads on most photographs and is not a category colour of the box editor.
  const BOX_COLOUR = "#ffb000";
  const CREATOR_COLOUR = "#ffffff";
  // Read by physical key, so layouts that type other characters on the digit row still get 1-3.
  const VERDICT_KEYS = { Digit1: 0, Digit2: 1, Digit3: 2, Numpad1: 0, Numpad2: 1, Numpad3: 2 };
  const SESSION_KEYS = ["enter", "k", "g", "?"];
  const ARROW_KEYS = ["ArrowLeft", "ArrowRight", "ArrowUp", "ArrowDown"];

  const MESSAGES = {
    verdictMissing: "Say whether the product is the boxed item (1 same, 2 similar, 3 not a match) before you submit.",
    categoryMissing: "Choose the boxed item's category (C) before you submit.",
    categoryAndVerdictMissing: "Choose the category (C) and a verdict (1, 2 or 3) before you submit.",
    boxMissing: "Draw the box around the tagged item (drag on the scene) before you submit.",
    creatorBoxOutside: "The creator's box is not inside the scene: draw the box yourself.",
    nothingToUndo: "Nothing to undo.",
    nothingToRedo: "Nothing to redo.",
    productFailed: "The product image did not load. Skip this pair with K if you cannot judge it.",
  };

  function sameBox(a, b) {
    return Boolean(a && b) && a.every((v, i) => v === b[i]);
  }

  function create({ host, task, context, draft, initialAnswer, onChange }) {
    const payload = (task && task.payload) || {};
    const scene = payload.scene || {};
    const product = payload.product || {};
    const width = Number(scene.width) || 1;
    const height = Number(scene.height) || 1;
    const notify = typeof onChange === "function" ? onChange : () => {};
    const ctx = context || {};
    const categories = Array.isArray(ctx.categories) ? ctx.categories : [];
    const bySlug = new Map(categories.map((c) => [c.slug, c]));
    const verdicts = (Array.isArray(ctx.match_verdicts) ? ctx.match_verdicts : []).map((v) => v.value);
    const fit = (box) => window.ShopBoxCanvas.cleanBox(box, width, height);
    const known = (slug) => (bySlug.has(slug) ? slug : "");
    const creatorBox = fit(payload.box);

    const root = host.querySelector(".mp-editor");
    if (!root) throw new Error("The matching editor's markup (frontend/editors/matching.html) is not in the host.");
    const part = (role) => root.querySelector('[data-role="' + role + '"]');
    const el = {
      stage: part("stage"), zoom: part("zoom"), imageError: part("image-error"), spamBanner: part("spam-banner"),
      productFrame: part("product-frame"), productImage: part("product-image"), productCategory: part("product-category"),
      categoryName: part("category-name"), creatorCategory: part("creator-category"), picker: part("picker"),
      pickerInput: part("picker-input"), pickerList: part("picker-list"), status: part("status"),
      categoryButton: root.querySelector('[data-action="pick-category"]'),
      verdictButtons: Array.from(root.querySelectorAll('[data-action="verdict"]')),
      spamButton: root.querySelector('[data-action="spam"]'),
      resetButton: root.querySelector('[data-action="reset-box"]'),
      undoButton: root.querySelector('[data-action="undo"]'),
      redoButton: root.querySelector('[data-action="redo"]'),
    };

    // What undo steps through and the draft keeps; the box is null only when the creator's was unusable.
    let model = { box: creatorBox, category: known(payload.category), match: null, spam: false };
    let boxSelected = true;
    let view = null;
    const history = { back: [], forward: [] };
    let dragStart = null; // the model when a move or resize began: the whole drag is one undo step
    let missing = [];     // the controls answer() found empty, outlined until they change
    const picker = window.ShopCategoryPicker.create({
      root: el.picker, input: el.pickerInput, list: el.pickerList, host: root, categories,
      optionTestId: "matching-option-", onPick: (slug) => setCategory(slug),
      decorate: (option, category) => option.classList.toggle("current", category.slug === model.category),
    });

    if (draft && draft.v === DRAFT_VERSION) {
      model = { box: fit(draft.box), category: known(draft.category),
        match: verdicts.includes(draft.match) ? draft.match : null, spam: draft.spam === true };
      boxSelected = draft.selected !== false;
      view = draft.view || null;
    } else if (initialAnswer && typeof initialAnswer === "object") {
      model = { box: fit(initialAnswer.box) || creatorBox, category: known(initialAnswer.category) || model.category,
        match: verdicts.includes(initialAnswer.match) ? initialAnswer.match : null, spam: initialAnswer.is_spam === true };
    }

    const canvas = window.ShopBoxCanvas.create({
      stage: el.stage, root, zoomLabel: el.zoom, imageError: el.imageError,
      image: { url: scene.url || "", width, height }, view, newBoxColour: () => BOX_COLOUR,
      on: {
        press: () => picker.close(),
        // Only the box is ever hit (the creator's outline lets the pointer through): a click on it
        // starts a move, so this is the click on empty image.
        select: (item) => { boxSelected = Boolean(item); paintScene(); notify(); },
        draw: (box) => {
          const drawn = fit(box);
          if (drawn) change(() => { model.box = drawn; boxSelected = true; });
        },
        editStart: () => { dragStart = snapshot(); boxSelected = true; },
        edit: (item, box) => { model.box = box; paintScene(); },
        editEnd: (item, cancelled) => {
          const before = dragStart;
          dragStart = null;
          if (!before) return;
          if (cancelled) model = JSON.parse(before);
          commit(before);
        },
        view: () => notify(),
      },
    });

    /* ---------- changes and undo ---------- */

    function snapshot() {
      return JSON.stringify(model);
    }

    function change(mutate) {
      const before = snapshot();
      mutate();
      commit(before);
    }

    function commit(before) {
      if (snapshot() !== before) {
        history.back.push(before);
        history.forward.length = 0;
        say("");
      }
      paint();
      notify();
    }

    function travel(from, to, emptyMessage) {
      if (!from.length) { say(emptyMessage); return; }
      to.push(snapshot());
      model = JSON.parse(from.pop());
      say("");
      paint();
      notify();
    }

    const undo = () => travel(history.back, history.forward, MESSAGES.nothingToUndo);
    const redo = () => travel(history.forward, history.back, MESSAGES.nothingToRedo);

    function setVerdict(value) {
      if (verdicts.includes(value)) change(() => { model.match = value; });
    }

    function setCategory(slug) {
      if (bySlug.has(slug)) change(() => { model.category = slug; });
    }

    function toggleSpam() {
      change(() => { model.spam = !model.spam; });
    }

    function resetBox() {
      if (!creatorBox) { say(MESSAGES.creatorBoxOutside, "error"); return; }
      change(() => { model.box = creatorBox.slice(); boxSelected = true; });
      canvas.reveal(creatorBox);
    }

    function selectBox(selected) {
      const next = selected && Boolean(model.box);
      if (next === boxSelected) return;
      boxSelected = next;
      paintScene();
      notify();
    }

    function nudge(event) {
      change(() => { model.box = canvas.nudged(model.box, event); });
      canvas.reveal(model.box);
    }

    const openPicker = () => picker.open({ selected: model.category });

    /* ---------- painting ---------- */

    function categoryName(slug) {
      const category = bySlug.get(slug);
      return category ? category.name || slug : slug;
    }

    function say(text, tone) {
      el.status.textContent = text || "";
      el.status.className = "bx-status" + (text ? " " + (tone || "info") : "");
    }

    function paintScene() {
      const items = [];
      if (creatorBox && !sameBox(creatorBox, model.box)) {
        items.push({ layer: "creator", index: 0, box: creatorBox, colour: CREATOR_COLOUR, caption: "creator's box" });
      }
      if (model.box) {
        items.push({ layer: BOX.layer, index: BOX.index, box: model.box, colour: BOX_COLOUR, movable: true,
          caption: model.category ? categoryName(model.category) : "no category", data: { category: model.category } });
      }
      canvas.draw(items, boxSelected && model.box ? BOX : null);
    }

    function paintSide() {
      el.categoryName.textContent = model.category ? categoryName(model.category) : "Choose a category";
      el.categoryButton.classList.toggle("mp-empty", !model.category);
      for (const button of el.verdictButtons) {
        const pressed = button.dataset.value === model.match;
        button.classList.toggle("pressed", pressed);
        button.setAttribute("aria-pressed", String(pressed));
      }
      el.spamButton.classList.toggle("pressed", model.spam);
      el.spamButton.setAttribute("aria-pressed", String(model.spam));
      el.spamBanner.hidden = !model.spam;
      el.resetButton.disabled = !creatorBox || sameBox(creatorBox, model.box);
      el.undoButton.disabled = !history.back.length;
      el.redoButton.disabled = !history.forward.length;
      missing = missing.filter((name) => !(name === "category" ? model.category : model.match));
      el.categoryButton.classList.toggle("mp-missing", missing.includes("category"));
      root.querySelector(".mp-verdicts").classList.toggle("mp-missing", missing.includes("match"));
      root.classList.toggle("mp-is-spam", model.spam);
      Object.assign(root.dataset, {
        category: model.category, match: model.match || "", spam: String(model.spam),
        box: model.box ? model.box.join(",") : "", boxChanged: String(!sameBox(creatorBox, model.box)),
      });
    }

    function paint() {
      paintScene();
      paintSide();
    }

    function paintStatic() {
      const chip = (slug) => (slug ? categoryName(slug) : "not given");
      el.productCategory.textContent = chip(product.category);
      el.creatorCategory.textContent = payload.category
        ? "The creator said " + chip(payload.category) + "." : "The creator gave no category.";
      root.dataset.productState = "loading";
      el.productImage.addEventListener("load", () => { root.dataset.productState = "loaded"; }, { signal });
      el.productImage.addEventListener("error", () => {
        root.dataset.productState = "failed";
        el.productFrame.classList.add("mp-broken");
        el.productFrame.dataset.message = MESSAGES.productFailed;
      }, { signal });
      el.productImage.src = product.image_url || "";
      if (!creatorBox && !model.box) say(MESSAGES.creatorBoxOutside, "error");
    }

    /* ---------- events ---------- */

    const listeners = new AbortController();
    const signal = listeners.signal;

    function onClick(event) {
      const target = event.target.closest("[data-action]");
      if (!target || !root.contains(target)) return;
      if (target.matches("button")) target.blur();
      // The buttons keep the focus where it was (see mousedown), so the search would stay open under them.
      if (target.dataset.action !== "pick-category") picker.close();
      switch (target.dataset.action) {
        case "undo": undo(); break;
        case "redo": redo(); break;
        case "zoom-in": canvas.zoomIn(); break;
        case "zoom-out": canvas.zoomOut(); break;
        case "zoom-reset": canvas.fit(); break;
        case "reset-box": resetBox(); break;
        case "verdict": setVerdict(target.dataset.value); break;
        case "spam": toggleSpam(); break;
        case "pick-category": if (picker.isOpen()) picker.close(); else openPicker(); break;
        default: break;
      }
    }

    root.addEventListener("click", onClick, { signal });
    // A button must not keep the focus, or Space and Enter would press it again.
    root.addEventListener("mousedown", (e) => { if (e.target.closest("button")) e.preventDefault(); }, { signal });

    function onKey(event) {
      if (picker.isOpen() && event.target === el.pickerInput) return true;
      const key = event.key;
      const lower = key.toLowerCase();
      if (event.ctrlKey || event.metaKey) {
        if (lower === "z") { if (event.shiftKey) redo(); else undo(); return true; }
        if (lower === "y") { redo(); return true; }
        return false;
      }
      if (!event.altKey && SESSION_KEYS.includes(lower)) return false;
      if (ARROW_KEYS.includes(key)) {
        if (boxSelected && model.box) { nudge(event); return true; }
        return canvas.viewKey(event);
      }
      if (event.altKey) return false;
      if (event.code in VERDICT_KEYS && VERDICT_KEYS[event.code] < verdicts.length) {
        setVerdict(verdicts[VERDICT_KEYS[event.code]]);
        return true;
      }
      if (canvas.viewKey(event)) return true;
      switch (lower) {
        case "s": toggleSpam(); return true;
        case "r": resetBox(); return true;
        case "c": case "/": openPicker(); return true;
        case "z": if (event.shiftKey) redo(); else undo(); return true;
        case "y": redo(); return true;
        case "tab": selectBox(true); return true;
        case "escape": if (!boxSelected) return false; selectBox(false); return true;
        default: return false;
      }
    }

    /* ---------- the public object (docs/TASK_KINDS.md) ---------- */

    function answer() {
      missing = [];
      if (!model.category) missing.push("category");
      if (!model.match) missing.push("match");
      const refused = !model.box ? MESSAGES.boxMissing
        : missing.length === 2 ? MESSAGES.categoryAndVerdictMissing
          : missing[0] === "category" ? MESSAGES.categoryMissing
            : missing[0] === "match" ? MESSAGES.verdictMissing : null;
      if (refused) {
        paintSide();
        // Next to the controls too: the session's message line may sit below the fold.
        say(refused, "error");
        return { ok: false, message: refused };
      }
      return { ok: true, answer: { box: model.box.slice(), category: model.category, match: model.match,
        is_spam: model.spam } };
    }

    function saveDraft() {
      return { v: DRAFT_VERSION, box: model.box, category: model.category, match: model.match, spam: model.spam,
        selected: boxSelected, view: canvas.viewState() };
    }

    function destroy() {
      listeners.abort();
      canvas.destroy();
      picker.destroy();
      dragStart = null;
      el.productImage.removeAttribute("src");
      root.dataset.ready = "false";
    }

    paintStatic();
    paint();
    root.dataset.ready = "true";
    return { answer, draft: saveDraft, onKey, destroy };
  }

  window.ShopEditors = window.ShopEditors || {};
  window.ShopEditors[KIND] = {
    create,
    // The sentences the editor shows, for the tests to compare against.
    messages: Object.assign({}, MESSAGES),
  };
})();
