/* The bounding-box editor: one task's scene, its boxes (each with a category) and the detector's
 * proposals, drawn and fixed with the mouse or the keyboard alone. The session (session.js) owns
 * claiming, submitting and drafts; this module only turns a task into an answer (docs/TASK_KINDS.md).
 *
 * The scene itself (the <svg> in image pixels, zoom, pan, the pointer gestures, the drawn boxes) is
 * the box canvas of editors/box_canvas.js, loaded first; the category search is the shared picker of
 * editors/category_picker.js, loaded before this. This module decides what a box means here:
 * categories (picker, number keys), proposals, nothing to box, undo, the side lists and the keys.
 */
(function () {
  "use strict";

  const KIND = "bounding_boxes";
  const NEW_BOX_SHARE_OF_VIEW = 0.25;
  const DRAFT_VERSION = 1;
  // The session's own keys (docs/TASK_KINDS.md): never taken, so Enter submits and K skips.
  const SESSION_KEYS = new Set(["enter", "k", "g", "?"]);
  // 1-9 above the letters or on the keypad: the quick category of that number (index n - 1).
  const DIGIT_CODES = Object.fromEntries([1, 2, 3, 4, 5, 6, 7, 8, 9]
    .flatMap((n) => [["Digit" + n, n - 1], ["Numpad" + n, n - 1]]));
  // Distinct on photographs; a category keeps its colour on every task (its index in the taxonomy).
  const PALETTE = ["#e6194b", "#3cb44b", "#4363d8", "#f58231", "#911eb4", "#00a6c8", "#f032e6", "#9acd32",
    "#d4a017", "#469990", "#9a6324", "#800000", "#808000", "#000075", "#ff6f91"];
  // The parts of boxes.html the editor fills in (data-role), besides the canvas's own.
  const ROLES = ["stage", "zoom", "nothing-banner", "image-error", "picker", "picker-title", "picker-input",
    "picker-list", "box-list", "box-list-empty", "box-count", "proposal-section", "proposal-list", "proposal-count",
    "proposal-tools", "quick-list", "current-swatch", "current-name", "status"];

  const MESSAGES = {
    nothingNotChosen: "There are no boxes. Draw a box around each product, or press N if there is nothing to box.",
    proposalsLeft: (n) => (n === 1 ? "1 proposal is left" : n + " proposals are left") +
      ": accept (A, Shift+A for all) or delete (X, Shift+X for all) before you submit.",
    nothingNeedsNoBoxes: "Nothing to box needs an empty scene: delete the boxes first.",
    nothingNeedsNoProposals: "Resolve the proposals first (accept with A, delete with X or Shift+X), then press N.",
    selectBoxFirst: "Select a box first (click it or press Tab).",
    selectProposalFirst: "Select a proposal first (Tab), or press Shift+X to delete them all.",
    noProposals: "There are no proposals left.",
    nothingToUndo: "Nothing to undo.",
    nothingToRedo: "Nothing to redo.",
    noQuickCategory: (n) => "There is no quick category " + n + ".",
    imageFailed: "The image did not load. Skip this task with K.",
  };

  // The category new boxes take carries over from one task to the next: "the last one used".
  let lastUsedCategory = null;

  const round1 = (v) => Math.round(v * 10) / 10;
  const copy = (value) => JSON.parse(JSON.stringify(value));
  const camel = (role) => role.replace(/-(\w)/g, (_, letter) => letter.toUpperCase());

  function html(name, className, text, attributes) {
    const node = document.createElement(name);
    if (className) node.className = className;
    if (text !== undefined) node.textContent = text;
    for (const [key, value] of Object.entries(attributes || {})) node.setAttribute(key, String(value));
    return node;
  }

  function isNumber(v) {
    return typeof v === "number" && Number.isFinite(v);
  }

  /* The search's rank of a category (0 best, -1 left out), on the whole text typed: the name or slug
   * starting with it, then a word of the name, then the name or slug containing it, then the coarse name. */
  function pickerRank(category, text) {
    const query = String(text).trim().toLowerCase();
    if (!query) return 0;
    const name = String(category.name || category.slug).toLowerCase();
    const slug = String(category.slug).toLowerCase();
    if (name.startsWith(query) || slug.startsWith(query)) return 0;
    if (name.split(/[^a-z0-9]+/).some((word) => word.startsWith(query))) return 1;
    if (name.includes(query) || slug.includes(query)) return 2;
    return String(category.coarse || "").toLowerCase().includes(query) ? 3 : -1;
  }

  class BoxEditor {
    constructor({ host, task, context, draft, initialAnswer, mode, onChange }) {
      this.host = host;
      this.context = context || {};
      this.mode = mode || "label";
      this.notify = typeof onChange === "function" ? onChange : () => {};
      this.listeners = new AbortController();
      const payload = (task && task.payload) || {};
      const image = payload.image || {};
      this.imageUrl = image.url || "";
      this.width = Number(image.width) || 1;
      this.height = Number(image.height) || 1;

      this.categories = Array.isArray(this.context.categories) ? this.context.categories : [];
      this.categoryBySlug = new Map(this.categories.map((c, i) => [c.slug, Object.assign({ index: i }, c)]));
      this.common = (Array.isArray(this.context.common_categories) ? this.context.common_categories : [])
        .filter((slug) => this.categoryBySlug.has(slug)).slice(0, 9);

      // The model: what undo covers and what the draft holds.
      this.boxes = [];       // [{box: [x0, y0, x1, y1], category}]
      this.proposals = [];   // unresolved: [{box, category, score}]
      this.nothing = false;  // "nothing to box" chosen
      this.selection = null; // {layer: "box" | "proposal", index}
      this.current = this.defaultCategory();
      this.initialView = null; // the draft's zoom and pan, for the canvas
      this.undoStack = [];
      this.redoStack = [];
      this.editBefore = null; // the model before the move or resize being dragged
      this.pickerTarget = null; // what the open picker sets: {layer: "box" | "proposal", index} or {layer: "current"}

      if (draft && draft.v === DRAFT_VERSION) {
        this.restoreDraft(draft);
      } else if (initialAnswer && Array.isArray(initialAnswer.boxes)) {
        this.boxes = this.readBoxes(initialAnswer.boxes);
        // An empty answer is the "nothing to box" answer.
        this.nothing = initialAnswer.boxes.length === 0;
        // An expert fixing a golden answer starts from it; the detector's guesses would only clutter it.
        if (this.mode !== "expert") this.proposals = this.initialProposals(payload);
      } else {
        this.proposals = this.initialProposals(payload);
      }

      this.bindElements();
      this.canvas = this.createCanvas();
      this.picker = this.createPicker();
      this.bindEvents();
      this.renderStatic();
      this.render();
      this.root.dataset.ready = "true";
    }

    /* ---------- set-up ---------- */

    defaultCategory() {
      if (lastUsedCategory && this.categoryBySlug.has(lastUsedCategory)) return lastUsedCategory;
      if (this.common.length) return this.common[0];
      return this.categories.length ? this.categories[0].slug : "";
    }

    /* Boxes (or, withScore, proposals) from an answer, a draft or the payload: those that are boxes, cleaned. */
    readBoxes(list, withScore) {
      return (Array.isArray(list) ? list : []).map((b) => {
        const entry = { box: this.cleanBox(b.box), category: b.category };
        if (withScore) entry.score = isNumber(b.score) ? b.score : 0;
        return entry;
      }).filter((b) => b.box);
    }

    initialProposals(payload) {
      // The server drops hidden proposals from the payload already; the flag is a second guard.
      const hidden = this.context.show_proposals === false || this.context.show_preannotations === false;
      return hidden ? [] : this.readBoxes(payload.proposals, true);
    }

    restoreDraft(draft) {
      this.boxes = this.readBoxes(draft.boxes);
      this.proposals = this.readBoxes(draft.proposals, true);
      this.nothing = Boolean(draft.nothing) && this.boxes.length === 0;
      if (draft.current && this.categoryBySlug.has(draft.current)) this.current = draft.current;
      this.selection = this.validSelection(draft.selection);
      // The canvas checks it and clamps the zoom.
      this.initialView = draft.view || null;
    }

    validSelection(selection) {
      if (!selection || (selection.layer !== "box" && selection.layer !== "proposal")) return null;
      const list = selection.layer === "box" ? this.boxes : this.proposals;
      return Number.isInteger(selection.index) && selection.index >= 0 && selection.index < list.length
        ? { layer: selection.layer, index: selection.index } : null;
    }

    bindElements() {
      const root = this.host.querySelector(".bx-editor");
      if (!root) throw new Error("The bounding-box editor's markup (frontend/editors/boxes.html) is not in the host.");
      this.root = root;
      this.el = Object.fromEntries(ROLES.map((role) => [camel(role), root.querySelector('[data-role="' + role + '"]')]));
      for (const action of ["nothing", "undo", "redo"]) {
        this.el[action + "Button"] = root.querySelector('[data-action="' + action + '"]');
      }
    }

    /* The scene: the canvas draws the boxes and reports the gestures; what they do to the model is decided here. */
    createCanvas() {
      return window.ShopBoxCanvas.create({
        stage: this.el.stage,
        root: this.root,
        zoomLabel: this.el.zoom,
        imageError: this.el.imageError,
        image: { url: this.imageUrl, width: this.width, height: this.height },
        view: this.initialView,
        newBoxColour: () => this.colour(this.current),
        on: {
          press: () => this.picker.close(),
          select: (item) => (item ? this.select(item.layer, item.index) : this.select(null)),
          draw: (box) => { if (!this.addBox(box)) this.select(null); },
          // Taken before the press selects the box, so undoing the drag also gives back the selection.
          editStart: (item) => { this.editBefore = this.snapshot(); this.select(item.layer, item.index); },
          // Shown while dragging; one undo step when it ends.
          edit: (item, box) => {
            const entry = this.selectedBox();
            if (entry) { entry.box = box; this.renderScene(); }
          },
          editEnd: (item, cancelled) => {
            const before = this.editBefore;
            this.editBefore = null;
            if (!before) return;
            if (cancelled) { this.restore(before); this.changed(); } else this.commit(before);
          },
          view: () => this.notify(),
        },
      });
    }

    bindEvents() {
      const signal = this.listeners.signal;
      const on = (target, type, handler) => target.addEventListener(type, handler, { signal });
      on(this.root, "click", (e) => this.onClick(e));
      // Buttons must not keep the focus: Space or Enter would press them again.
      on(this.root, "mousedown", (e) => { if (e.target.closest("button")) e.preventDefault(); });
    }

    createPicker() {
      return window.ShopCategoryPicker.create({
        root: this.el.picker, input: this.el.pickerInput, list: this.el.pickerList, host: this.root,
        title: this.el.pickerTitle, categories: this.categories, rank: pickerRank, preferred: this.common,
        optionTestId: "category-option-", tabMoves: false, onPick: (slug) => this.pickerChoose(slug),
        decorate: (option, category) => {
          option.title = (category.name || category.slug) + (category.coarse ? " (" + category.coarse + ")" : "");
          option.prepend(this.swatch(category.slug));
          const quick = this.common.indexOf(category.slug);
          if (quick >= 0) option.appendChild(html("kbd", "bx-option-key", String(quick + 1)));
        },
      });
    }

    renderStatic() {
      this.el.quickList.replaceChildren(...this.common.map((slug, i) => {
        const item = html("li", "bx-quick-item", undefined, { "data-action": "quick", "data-slug": slug });
        item.append(html("kbd", "", String(i + 1)), this.swatch(slug), html("span", "", this.categoryName(slug)));
        return item;
      }));
      this.say("");
    }

    /* ---------- the public object (docs/TASK_KINDS.md) ---------- */

    api() {
      return { answer: () => this.answer(), draft: () => this.draft(), onKey: (e) => this.onKey(e),
        destroy: () => this.destroy() };
    }

    answer() {
      const refused = this.proposals.length ? MESSAGES.proposalsLeft(this.proposals.length)
        : !this.boxes.length && !this.nothing ? MESSAGES.nothingNotChosen : null;
      if (refused) {
        // Said next to the scene too: the session's message line may sit below the fold.
        this.say(refused, "error");
        return { ok: false, message: refused };
      }
      return { ok: true, answer: { boxes: this.boxes.map((b) => ({ box: b.box.map(round1), category: b.category })) } };
    }

    draft() {
      return { v: DRAFT_VERSION, boxes: copy(this.boxes), proposals: copy(this.proposals), nothing: this.nothing,
        current: this.current, selection: this.selection ? copy(this.selection) : null, view: this.canvas.viewState() };
    }

    destroy() {
      this.listeners.abort();
      this.canvas.destroy();
      this.editBefore = null;
      this.picker.destroy();
      this.el.boxList.replaceChildren();
      this.el.proposalList.replaceChildren();
      this.root.dataset.ready = "false";
    }

    /* ---------- the model and undo ---------- */

    snapshot() {
      return { boxes: copy(this.boxes), proposals: copy(this.proposals), nothing: this.nothing,
        selection: this.selection ? copy(this.selection) : null };
    }

    restore(snap) {
      this.boxes = copy(snap.boxes);
      this.proposals = copy(snap.proposals);
      this.nothing = snap.nothing;
      this.selection = this.validSelection(snap.selection);
    }

    static sameModel(a, b) {
      return JSON.stringify([a.boxes, a.proposals, a.nothing]) === JSON.stringify([b.boxes, b.proposals, b.nothing]);
    }

    /* Apply one change as one undo step; only a change of the model (not of the selection) counts. */
    change(mutate) {
      const before = this.snapshot();
      mutate();
      this.commit(before);
    }

    commit(before) {
      if (this.boxes.length) this.nothing = false;
      if (!BoxEditor.sameModel(before, this.snapshot())) {
        this.undoStack.push(before);
        this.redoStack = [];
        this.say("");
      }
      this.changed();
    }

    changed() {
      this.selection = this.validSelection(this.selection);
      this.render();
      this.notify();
    }

    undo() { this.travel(this.undoStack, this.redoStack, MESSAGES.nothingToUndo); }

    redo() { this.travel(this.redoStack, this.undoStack, MESSAGES.nothingToRedo); }

    /* One step back (or forward) in the history; the state left goes on the other stack. */
    travel(from, to, nothingLeft) {
      if (!from.length) return this.say(nothingLeft);
      to.push(this.snapshot());
      this.restore(from.pop());
      this.say("");
      this.changed();
    }

    cleanBox(box) {
      return window.ShopBoxCanvas.cleanBox(box, this.width, this.height);
    }

    isSelected(layer, index) {
      return Boolean(this.selection && this.selection.layer === layer && this.selection.index === index);
    }

    selectedBox() {
      return this.selection && this.selection.layer === "box" ? this.boxes[this.selection.index] : null;
    }

    selectedProposal() {
      return this.selection && this.selection.layer === "proposal" ? this.proposals[this.selection.index] : null;
    }

    select(layer, index) {
      const next = layer ? { layer, index } : null;
      if (JSON.stringify(next) === JSON.stringify(this.selection)) return;
      this.selection = next;
      this.changed();
    }

    addBox(box, category) {
      const cleaned = this.cleanBox(box);
      if (!cleaned) return false;
      this.change(() => {
        this.boxes.push({ box: cleaned, category: category || this.current });
        this.nothing = false;
        this.selection = { layer: "box", index: this.boxes.length - 1 };
      });
      return true;
    }

    deleteSelected() {
      if (!this.selection) return this.say(MESSAGES.selectBoxFirst);
      const { layer, index } = this.selection;
      this.change(() => { (layer === "box" ? this.boxes : this.proposals).splice(index, 1); this.selection = null; });
    }

    deleteBox(index) {
      this.change(() => { this.boxes.splice(index, 1); this.selection = null; });
    }

    setCategory(slug) {
      if (!this.categoryBySlug.has(slug)) return;
      const box = this.selectedBox();
      const proposal = this.selectedProposal();
      this.current = slug;
      lastUsedCategory = slug;
      if (box) {
        this.change(() => { box.category = slug; });
      } else if (proposal) {
        // Choosing a category for a proposal is accepting it with that category.
        this.acceptProposal(this.selection.index, slug);
      } else {
        this.say("New boxes: " + this.categoryName(slug) + ".");
        this.changed();
      }
    }

    acceptProposal(index, category) {
      const proposal = this.proposals[index];
      if (!proposal) return;
      this.change(() => {
        this.proposals.splice(index, 1);
        this.boxes.push({ box: proposal.box.slice(), category: this.acceptedCategory(proposal, category) });
        this.selection = { layer: "box", index: this.boxes.length - 1 };
      });
    }

    acceptedCategory(proposal, category) {
      if (category) return category;
      return this.categoryBySlug.has(proposal.category) ? proposal.category : this.current;
    }

    acceptOne() {
      if (!this.proposals.length) return this.say(MESSAGES.noProposals);
      if (this.selectedProposal()) return this.acceptProposal(this.selection.index);
      let best = 0;
      this.proposals.forEach((p, i) => { if (p.score > this.proposals[best].score) best = i; });
      this.acceptProposal(best);
    }

    acceptAll() {
      if (!this.proposals.length) return this.say(MESSAGES.noProposals);
      this.change(() => {
        this.boxes.push(...this.proposals.map((p) => ({ box: p.box.slice(), category: this.acceptedCategory(p) })));
        this.proposals = [];
        this.selection = null;
      });
    }

    rejectSelectedProposal() {
      if (!this.proposals.length) return this.say(MESSAGES.noProposals);
      if (!this.selectedProposal()) return this.say(MESSAGES.selectProposalFirst);
      const index = this.selection.index;
      this.change(() => {
        this.proposals.splice(index, 1);
        // The next proposal takes its place, so X X X walks through them.
        this.selection = this.proposals.length ? { layer: "proposal", index: Math.min(index, this.proposals.length - 1) } : null;
      });
    }

    rejectAll() {
      if (!this.proposals.length) return this.say(MESSAGES.noProposals);
      this.change(() => {
        this.proposals = [];
        if (this.selection && this.selection.layer === "proposal") this.selection = null;
      });
    }

    toggleNothing() {
      if (!this.nothing && this.boxes.length) return this.say(MESSAGES.nothingNeedsNoBoxes);
      if (!this.nothing && this.proposals.length) return this.say(MESSAGES.nothingNeedsNoProposals);
      this.change(() => { this.nothing = !this.nothing; });
    }

    /* Tab: boxes first, then proposals, as the canvas was given them. */
    cycleSelection(step) {
      const next = this.canvas.nextItem(this.selection, step);
      if (!next) return;
      this.select(next.layer, next.index);
      this.revealSelection();
    }

    /* Pan to the selected box or proposal when the view is zoomed in and it is out of view. */
    revealSelection() {
      const item = this.selectedBox() || this.selectedProposal();
      if (item) this.canvas.reveal(item.box);
    }

    /* ---------- clicks on the toolbar and the lists ---------- */

    onClick(event) {
      const target = event.target.closest("[data-action]");
      if (!target || !this.root.contains(target)) return;
      if (target.matches("button")) target.blur();
      const index = Number(target.dataset.index);
      switch (target.dataset.action) {
        case "undo": return this.undo();
        case "redo": return this.redo();
        case "zoom-in": return this.canvas.zoomIn();
        case "zoom-out": return this.canvas.zoomOut();
        case "zoom-reset": return this.canvas.fit();
        case "pick-current": this.select(null); return this.openPicker();
        case "accept-all": return this.acceptAll();
        case "reject-all": return this.rejectAll();
        case "nothing": return this.toggleNothing();
        case "quick": return this.setCategory(target.dataset.slug);
        case "select-box": this.select("box", index); return this.revealSelection();
        case "select-proposal": this.select("proposal", index); return this.revealSelection();
        case "box-category": this.select("box", index); return this.openPicker();
        case "delete-box": return this.deleteBox(index);
        case "accept-proposal": return this.acceptProposal(index);
        case "reject-proposal":
          this.selection = { layer: "proposal", index };
          return this.rejectSelectedProposal();
        default: return undefined;
      }
    }

    /* ---------- keyboard ---------- */

    onKey(event) {
      if (this.picker.isOpen() && event.target === this.el.pickerInput) {
        // The search's own listener took the key already when it was first in line.
        return true;
      }
      const key = event.key;
      const lower = key.length === 1 ? key.toLowerCase() : key;
      const ctrl = event.ctrlKey || event.metaKey;
      const shift = event.shiftKey;
      const alt = event.altKey;
      if (!ctrl && !alt && SESSION_KEYS.has(lower.toLowerCase())) return false;
      if (ctrl) {
        if (lower === "z") { shift ? this.redo() : this.undo(); return true; }
        if (lower === "y") { this.redo(); return true; }
        return false;
      }
      const box = key.startsWith("Arrow") && this.selectedBox();
      if (box) {
        this.change(() => { box.box = this.canvas.nudged(box.box, event); });
        return true;
      }
      // With no box selected the arrows pan; 0 fits, + and - zoom, Space held turns a drag into a pan.
      if (key.startsWith("Arrow") || alt) return this.canvas.viewKey(event);
      if (event.code in DIGIT_CODES) {
        const n = DIGIT_CODES[event.code];
        if (n >= this.common.length) this.say(MESSAGES.noQuickCategory(n + 1));
        else this.setCategory(this.common[n]);
        return true;
      }
      if (this.canvas.viewKey(event)) return true;
      switch (lower) {
        case "Tab": this.cycleSelection(shift ? -1 : 1); return true;
        case "Escape": if (!this.selection) return false; this.select(null); return true;
        case "Delete": case "Backspace": this.deleteSelected(); return true;
        case "z": shift ? this.redo() : this.undo(); return true;
        case "y": this.redo(); return true;
        case "b": this.addBox(this.canvas.boxInView(NEW_BOX_SHARE_OF_VIEW)); return true;
        case "n": this.toggleNothing(); return true;
        case "a": shift ? this.acceptAll() : this.acceptOne(); return true;
        case "x": shift ? this.rejectAll() : this.rejectSelectedProposal(); return true;
        case "c": case "/": this.openPicker(); return true;
        default: return false;
      }
    }

    /* ---------- category picker ---------- */

    /* Search the category of the selected box or proposal, else the category of new boxes. */
    openPicker() {
      const box = this.selectedBox();
      const proposal = this.selectedProposal();
      const item = box || proposal;
      this.pickerTarget = item ? { layer: this.selection.layer, index: this.selection.index } : { layer: "current" };
      this.picker.open({
        title: box ? "Category of box " + (this.selection.index + 1)
          : proposal ? "Accept proposal " + (this.selection.index + 1) + " as" : "Category of new boxes",
        selected: item ? item.category : this.current,
        // Under the box it is for, so the eye stays where it was.
        place: (element) => this.canvas.placeBeside(element, item ? item.box : null),
      });
    }

    pickerChoose(slug) {
      const target = this.pickerTarget;
      this.selection = target.layer === "current" ? null : { layer: target.layer, index: target.index };
      this.setCategory(slug);
    }

    /* ---------- rendering ---------- */

    categoryName(slug) {
      const category = this.categoryBySlug.get(slug);
      return category ? category.name || slug : slug || "no category";
    }

    colour(slug) {
      const category = this.categoryBySlug.get(slug);
      return PALETTE[(category ? category.index : PALETTE.length - 1) % PALETTE.length];
    }

    swatch(slug, dashed) {
      const node = html("span", "bx-swatch" + (dashed ? " dashed" : ""));
      node.style.setProperty("--bx-colour", this.colour(slug));
      return node;
    }

    say(text, tone) {
      if (!this.el || !this.el.status) return;
      this.el.status.textContent = text || "";
      this.el.status.className = "bx-status" + (text ? " " + (tone || "info") : "");
    }

    render() {
      this.renderScene();
      this.renderSide();
    }

    /* The boxes and proposals as the canvas draws them: boxes move (the selected one by its handles too). */
    renderScene() {
      const boxes = this.boxes.map((b, i) => ({ layer: "box", index: i, box: b.box, colour: this.colour(b.category),
        movable: true, caption: (i + 1) + " " + this.categoryName(b.category), data: { category: b.category } }));
      const proposals = this.proposals.map((p, i) => ({ layer: "proposal", index: i, box: p.box,
        colour: this.colour(p.category), data: { category: p.category, score: p.score },
        caption: "P" + (i + 1) + " " + this.categoryName(p.category) + " " + Math.round(p.score * 100) + "%" }));
      this.canvas.draw(boxes.concat(proposals), this.selection);
    }

    renderSide() {
      const el = this.el;
      el.boxCount.textContent = String(this.boxes.length);
      el.boxListEmpty.hidden = this.boxes.length > 0;
      el.boxList.replaceChildren(...this.boxes.map((b, i) => this.boxRow(b, i)));
      el.proposalSection.hidden = this.proposals.length === 0;
      el.proposalTools.hidden = this.proposals.length === 0;
      el.proposalCount.textContent = String(this.proposals.length);
      el.proposalList.replaceChildren(...this.proposals.map((p, i) => this.proposalRow(p, i)));
      el.currentName.textContent = this.categoryName(this.current);
      el.currentSwatch.style.setProperty("--bx-colour", this.colour(this.current));
      el.quickList.querySelectorAll("[data-slug]").forEach((item) => {
        item.classList.toggle("current", item.dataset.slug === this.current);
      });
      el.nothingButton.setAttribute("aria-pressed", this.nothing ? "true" : "false");
      el.nothingButton.classList.toggle("pressed", this.nothing);
      el.nothingButton.disabled = !this.nothing && this.boxes.length > 0;
      el.nothingBanner.hidden = !this.nothing;
      el.undoButton.disabled = !this.undoStack.length;
      el.redoButton.disabled = !this.redoStack.length;
      this.root.dataset.nothing = this.nothing ? "true" : "false";
      this.root.dataset.boxes = String(this.boxes.length);
      this.root.dataset.proposals = String(this.proposals.length);
      this.root.classList.toggle("bx-is-nothing", this.nothing);
    }

    /* A row of a side list; clicking it selects the box or proposal. */
    row(layer, index, className) {
      return html("li", className + (this.isSelected(layer, index) ? " selected" : ""), undefined,
        { "data-action": "select-" + layer, "data-index": index, "data-testid": layer + "-row-" + index });
    }

    /* A row's button; tabindex -1 because the editor is worked by its own keys, not by focus. */
    rowButton(className, text, action, index, title, label) {
      const attributes = { type: "button", tabindex: -1, title, "data-action": action, "data-index": index };
      if (label) attributes["aria-label"] = label;
      return html("button", className, text, attributes);
    }

    boxRow(entry, index) {
      const row = this.row("box", index, "bx-row");
      const [x0, y0, x1, y1] = entry.box;
      row.append(this.swatch(entry.category), html("span", "bx-row-number", String(index + 1)),
        this.rowButton("bx-row-category", this.categoryName(entry.category), "box-category", index, "Change the category (C)"),
        html("span", "bx-row-size muted small", Math.round(x1 - x0) + "\u00d7" + Math.round(y1 - y0)),
        this.rowButton("bx-row-delete", "\u00d7", "delete-box", index, "Delete this box (Del)", "Delete box " + (index + 1)));
      return row;
    }

    proposalRow(entry, index) {
      const row = this.row("proposal", index, "bx-row proposal");
      row.append(this.swatch(entry.category, true), html("span", "bx-row-number", "P" + (index + 1)),
        html("span", "bx-row-name", this.categoryName(entry.category)),
        html("span", "bx-row-size muted small", Math.round(entry.score * 100) + "%"),
        this.rowButton("bx-row-accept", "\u2713", "accept-proposal", index, "Accept this proposal (A)",
          "Accept proposal " + (index + 1)),
        this.rowButton("bx-row-delete", "\u00d7", "reject-proposal", index, "Delete this proposal (X)",
          "Delete proposal " + (index + 1)));
      return row;
    }
  }

  window.ShopEditors = window.ShopEditors || {};
  window.ShopEditors[KIND] = {
    create(options) {
      return new BoxEditor(options).api();
    },
    // The sentences the editor shows, for the tests to compare against.
    messages: {
      nothingNotChosen: MESSAGES.nothingNotChosen,
      proposalsLeft: MESSAGES.proposalsLeft,
      nothingNeedsNoBoxes: MESSAGES.nothingNeedsNoBoxes,
    },
  };
})();
