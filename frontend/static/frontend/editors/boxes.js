/* The bounding-box editor: one task's scene, its boxes (each with a category) and the detector's
 * proposals, drawn and fixed with the mouse or the keyboard alone. The session (session.js) owns
 * claiming, submitting and drafts; this module only turns a task into an answer (docs/TASK_KINDS.md).
 *
 * The scene is one <svg> whose viewBox is in image pixels, so every coordinate the editor keeps is
 * an image pixel whatever the display size or zoom; the viewBox is the zoom and pan.
 */
(function () {
  "use strict";

  const KIND = "bounding_boxes";
  const SVG_NS = "http://www.w3.org/2000/svg";

  const MIN_ZOOM = 1;
  const MAX_ZOOM = 40;
  const ZOOM_STEP = 1.25;
  const WHEEL_ZOOM_PER_PIXEL = 0.0015;
  // A drag shorter than this (screen pixels) is a click, not a box.
  const MIN_DRAG_SCREEN_PX = 4;
  // No box is thinner than this (image pixels); the server refuses x0 == x1.
  const MIN_BOX_PX = 1;
  const HANDLE_SCREEN_PX = 10;
  const LABEL_SCREEN_PX = 12;
  const PAN_STEP_SCREEN_PX = 60;
  const NEW_BOX_SHARE_OF_VIEW = 0.25;
  const DRAFT_VERSION = 1;
  const HANDLES = ["nw", "n", "ne", "e", "se", "s", "sw", "w"];
  // The session's own keys (docs/TASK_KINDS.md): never taken, so Enter submits and K skips.
  const SESSION_KEYS = new Set(["enter", "k", "g", "?"]);
  const DIGIT_CODES = {
    Digit1: 0, Digit2: 1, Digit3: 2, Digit4: 3, Digit5: 4, Digit6: 5, Digit7: 6, Digit8: 7, Digit9: 8,
    Numpad1: 0, Numpad2: 1, Numpad3: 2, Numpad4: 3, Numpad5: 4, Numpad6: 5, Numpad7: 6, Numpad8: 7, Numpad9: 8,
  };
  // Distinct on photographs; a category keeps its colour on every task (its index in the taxonomy).
  const PALETTE = ["#e6194b", "#3cb44b", "#4363d8", "#f58231", "#911eb4", "#00a6c8", "#f032e6", "#9acd32",
    "#d4a017", "#469990", "#9a6324", "#800000", "#808000", "#000075", "#ff6f91"];

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
  const clamp = (v, lo, hi) => Math.min(hi, Math.max(lo, v));
  const copy = (value) => JSON.parse(JSON.stringify(value));

  function svg(name, attributes) {
    const node = document.createElementNS(SVG_NS, name);
    for (const [key, value] of Object.entries(attributes || {})) node.setAttribute(key, String(value));
    return node;
  }

  function html(name, className, text) {
    const node = document.createElement(name);
    if (className) node.className = className;
    if (text !== undefined) node.textContent = text;
    return node;
  }

  function isNumber(v) {
    return typeof v === "number" && Number.isFinite(v);
  }

  class BoxEditor {
    constructor({ host, task, context, draft, initialAnswer, mode, onChange }) {
      this.host = host;
      this.task = task;
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
      this.view = { zoom: 1, cx: this.width / 2, cy: this.height / 2 };
      this.undoStack = [];
      this.redoStack = [];
      this.gesture = null;
      this.spaceHeld = false;
      this.picker = null;
      this.layoutSize = { w: 0, h: 0, scale: 1 };

      if (draft && draft.v === DRAFT_VERSION) {
        this.restoreDraft(draft);
      } else if (initialAnswer && Array.isArray(initialAnswer.boxes)) {
        this.boxes = initialAnswer.boxes.map((b) => ({ box: this.cleanBox(b.box), category: b.category }))
          .filter((b) => b.box);
        // An empty answer is the "nothing to box" answer.
        this.nothing = initialAnswer.boxes.length === 0;
        // An expert fixing a golden answer starts from it; the detector's guesses would only clutter it.
        if (this.mode !== "expert") this.proposals = this.initialProposals(payload);
      } else {
        this.proposals = this.initialProposals(payload);
      }

      this.bindElements();
      this.bindEvents();
      this.renderStatic();
      this.layout();
      this.render();
      this.root.dataset.ready = "true";
    }

    /* ---------- set-up ---------- */

    defaultCategory() {
      if (lastUsedCategory && this.categoryBySlug.has(lastUsedCategory)) return lastUsedCategory;
      if (this.common.length) return this.common[0];
      return this.categories.length ? this.categories[0].slug : "";
    }

    initialProposals(payload) {
      // The server drops hidden proposals from the payload already; the flag is a second guard.
      const hidden = this.context.show_proposals === false || this.context.show_preannotations === false;
      if (hidden || !Array.isArray(payload.proposals)) return [];
      return payload.proposals
        .map((p) => ({ box: this.cleanBox(p.box), category: p.category, score: isNumber(p.score) ? p.score : 0 }))
        .filter((p) => p.box);
    }

    restoreDraft(draft) {
      const entries = (list) => (Array.isArray(list) ? list : []);
      this.boxes = entries(draft.boxes).map((b) => ({ box: this.cleanBox(b.box), category: b.category }))
        .filter((b) => b.box);
      this.proposals = entries(draft.proposals)
        .map((p) => ({ box: this.cleanBox(p.box), category: p.category, score: isNumber(p.score) ? p.score : 0 }))
        .filter((p) => p.box);
      this.nothing = Boolean(draft.nothing) && this.boxes.length === 0;
      if (draft.current && this.categoryBySlug.has(draft.current)) this.current = draft.current;
      this.selection = this.validSelection(draft.selection);
      if (draft.view && isNumber(draft.view.zoom) && isNumber(draft.view.cx) && isNumber(draft.view.cy)) {
        this.view = { zoom: clamp(draft.view.zoom, MIN_ZOOM, MAX_ZOOM), cx: draft.view.cx, cy: draft.view.cy };
      }
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
      const part = (role) => root.querySelector('[data-role="' + role + '"]');
      this.root = root;
      this.el = {
        stage: part("stage"), canvas: part("canvas"), image: part("image"), frame: part("frame"),
        items: part("items"), handles: part("handles"), drawing: part("drawing"), zoom: part("zoom"),
        nothingBanner: part("nothing-banner"), imageError: part("image-error"),
        picker: part("picker"), pickerTitle: part("picker-title"), pickerInput: part("picker-input"),
        pickerList: part("picker-list"), boxList: part("box-list"), boxListEmpty: part("box-list-empty"),
        boxCount: part("box-count"), proposalSection: part("proposal-section"), proposalList: part("proposal-list"),
        proposalCount: part("proposal-count"), proposalTools: part("proposal-tools"), quickList: part("quick-list"),
        currentSwatch: part("current-swatch"), currentName: part("current-name"), status: part("status"),
        nothingButton: root.querySelector('[data-action="nothing"]'),
        undoButton: root.querySelector('[data-action="undo"]'),
        redoButton: root.querySelector('[data-action="redo"]'),
      };
    }

    bindEvents() {
      const signal = this.listeners.signal;
      const on = (target, type, handler, options) =>
        target.addEventListener(type, handler, Object.assign({ signal }, options || {}));
      const canvas = this.el.canvas;
      on(canvas, "pointerdown", (e) => this.onPointerDown(e));
      on(canvas, "pointermove", (e) => this.onPointerMove(e));
      on(canvas, "pointerup", (e) => this.onPointerUp(e));
      on(canvas, "pointercancel", (e) => this.onPointerUp(e, true));
      on(canvas, "wheel", (e) => this.onWheel(e), { passive: false });
      // The middle button would start the browser's autoscroll; the editor pans with it instead.
      on(canvas, "mousedown", (e) => { if (e.button === 1) e.preventDefault(); });
      on(canvas, "auxclick", (e) => { if (e.button === 1) e.preventDefault(); });
      on(canvas, "contextmenu", (e) => { if (this.gesture) e.preventDefault(); });
      on(this.el.image, "error", () => {
        this.el.imageError.hidden = false;
        this.root.dataset.imageState = "failed";
      });
      on(this.el.image, "load", () => { this.root.dataset.imageState = "loaded"; });
      on(this.root, "click", (e) => this.onClick(e));
      // Buttons must not keep the focus: Space or Enter would press them again.
      on(this.root, "mousedown", (e) => { if (e.target.closest("button")) e.preventDefault(); });
      on(document, "keyup", (e) => { if (e.key === " ") this.setSpace(false); });
      on(window, "blur", () => this.setSpace(false));
      const input = this.el.pickerInput;
      on(input, "input", () => this.pickerFilter());
      on(input, "keydown", (e) => {
        if (this.pickerKey(e)) e.preventDefault();
        // While the search has focus it takes every key: none reaches the session.
        e.stopPropagation();
      });
      on(input, "blur", () => { if (this.picker) this.closePicker(); });
      on(this.el.pickerList, "mousedown", (e) => e.preventDefault());
      on(this.el.pickerList, "click", (e) => {
        const option = e.target.closest("[data-slug]");
        if (option) this.pickerChoose(option.dataset.slug);
      });
      if (typeof ResizeObserver === "function") {
        this.resizeObserver = new ResizeObserver(() => { this.layout(); this.render(); });
        this.resizeObserver.observe(this.el.stage);
      } else {
        on(window, "resize", () => { this.layout(); this.render(); });
      }
    }

    renderStatic() {
      this.el.stage.style.aspectRatio = this.width + " / " + this.height;
      this.el.image.setAttribute("width", this.width);
      this.el.image.setAttribute("height", this.height);
      this.el.frame.setAttribute("width", this.width);
      this.el.frame.setAttribute("height", this.height);
      this.el.imageError.hidden = true;
      this.root.dataset.imageState = "loading";
      this.root.dataset.imageWidth = String(this.width);
      this.root.dataset.imageHeight = String(this.height);
      this.el.image.setAttribute("href", this.imageUrl);
      this.el.quickList.replaceChildren();
      this.common.forEach((slug, i) => {
        const item = html("li", "bx-quick-item");
        item.dataset.action = "quick";
        item.dataset.slug = slug;
        item.append(html("kbd", "", String(i + 1)), this.swatch(slug), html("span", "", this.categoryName(slug)));
        this.el.quickList.appendChild(item);
      });
      this.closePicker();
      this.say("");
    }

    /* ---------- the public object (docs/TASK_KINDS.md) ---------- */

    api() {
      return {
        answer: () => this.answer(),
        draft: () => this.draft(),
        onKey: (event) => this.onKey(event),
        destroy: () => this.destroy(),
      };
    }

    answer() {
      const refused = this.proposals.length ? MESSAGES.proposalsLeft(this.proposals.length)
        : !this.boxes.length && !this.nothing ? MESSAGES.nothingNotChosen : null;
      if (refused) {
        // Said next to the scene too: the session's message line may sit below the fold.
        this.say(refused, "error");
        return { ok: false, message: refused };
      }
      return {
        ok: true,
        answer: { boxes: this.boxes.map((b) => ({ box: b.box.map(round1), category: b.category })) },
      };
    }

    draft() {
      return {
        v: DRAFT_VERSION,
        boxes: copy(this.boxes),
        proposals: copy(this.proposals),
        nothing: this.nothing,
        current: this.current,
        selection: this.selection ? copy(this.selection) : null,
        view: copy(this.view),
      };
    }

    destroy() {
      this.listeners.abort();
      if (this.resizeObserver) this.resizeObserver.disconnect();
      this.gesture = null;
      this.closePicker();
      this.el.items.replaceChildren();
      this.el.handles.replaceChildren();
      this.el.boxList.replaceChildren();
      this.el.proposalList.replaceChildren();
      this.el.image.removeAttribute("href");
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

    undo() {
      if (!this.undoStack.length) return this.say(MESSAGES.nothingToUndo);
      this.redoStack.push(this.snapshot());
      this.restore(this.undoStack.pop());
      this.say("");
      this.changed();
    }

    redo() {
      if (!this.redoStack.length) return this.say(MESSAGES.nothingToRedo);
      this.undoStack.push(this.snapshot());
      this.restore(this.redoStack.pop());
      this.say("");
      this.changed();
    }

    /* A box in image pixels, ordered, inside the image, rounded to 0.1 px; null when it is not one. */
    cleanBox(box) {
      if (!Array.isArray(box) || box.length !== 4 || !box.every(isNumber)) return null;
      let [x0, y0, x1, y1] = box;
      [x0, x1] = [Math.min(x0, x1), Math.max(x0, x1)];
      [y0, y1] = [Math.min(y0, y1), Math.max(y0, y1)];
      x0 = round1(clamp(x0, 0, this.width));
      x1 = round1(clamp(x1, 0, this.width));
      y0 = round1(clamp(y0, 0, this.height));
      y1 = round1(clamp(y1, 0, this.height));
      if (x1 - x0 < MIN_BOX_PX || y1 - y0 < MIN_BOX_PX) return null;
      return [x0, y0, x1, y1];
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

    addBoxInView() {
      // The part of the image in view: at zoom 1 the view also holds the margins around the image.
      const view = this.visibleRect();
      const x = Math.max(0, view.x);
      const y = Math.max(0, view.y);
      const w = Math.min(this.width, view.x + view.w) - x;
      const h = Math.min(this.height, view.y + view.h) - y;
      const bw = Math.max(MIN_BOX_PX * 4, w * NEW_BOX_SHARE_OF_VIEW);
      const bh = Math.max(MIN_BOX_PX * 4, h * NEW_BOX_SHARE_OF_VIEW);
      const cx = clamp(x + w / 2, bw / 2, this.width - bw / 2);
      const cy = clamp(y + h / 2, bh / 2, this.height - bh / 2);
      this.addBox([cx - bw / 2, cy - bh / 2, cx + bw / 2, cy + bh / 2]);
    }

    deleteSelected() {
      if (!this.selection) return this.say(MESSAGES.selectBoxFirst);
      const { layer, index } = this.selection;
      this.change(() => {
        (layer === "box" ? this.boxes : this.proposals).splice(index, 1);
        this.selection = null;
      });
    }

    deleteBox(index) {
      this.change(() => {
        this.boxes.splice(index, 1);
        this.selection = null;
      });
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

    moveSelected(dx, dy) {
      const box = this.selectedBox();
      if (!box) return;
      this.change(() => { box.box = this.shifted(box.box, dx, dy); });
    }

    /* Alt+arrows: the right and bottom edges move, the top-left corner stays. */
    resizeSelected(dx, dy) {
      const box = this.selectedBox();
      if (!box) return;
      const [x0, y0, x1, y1] = box.box;
      this.change(() => {
        box.box = [x0, y0, round1(clamp(x1 + dx, x0 + MIN_BOX_PX, this.width)),
          round1(clamp(y1 + dy, y0 + MIN_BOX_PX, this.height))];
      });
    }

    /* The box moved by (dx, dy), kept whole inside the image. */
    shifted(box, dx, dy) {
      const [x0, y0, x1, y1] = box;
      const mx = clamp(dx, -x0, this.width - x1);
      const my = clamp(dy, -y0, this.height - y1);
      return [round1(x0 + mx), round1(y0 + my), round1(x1 + mx), round1(y1 + my)];
    }

    /* The box with the edges named by ``handle`` moved by (dx, dy); an edge stops short of its opposite. */
    resized(box, handle, dx, dy) {
      let [x0, y0, x1, y1] = box;
      if (handle.includes("w")) x0 = clamp(x0 + dx, 0, x1 - MIN_BOX_PX);
      if (handle.includes("e")) x1 = clamp(x1 + dx, x0 + MIN_BOX_PX, this.width);
      if (handle.includes("n")) y0 = clamp(y0 + dy, 0, y1 - MIN_BOX_PX);
      if (handle.includes("s")) y1 = clamp(y1 + dy, y0 + MIN_BOX_PX, this.height);
      return [round1(x0), round1(y0), round1(x1), round1(y1)];
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
        for (const proposal of this.proposals) {
          this.boxes.push({ box: proposal.box.slice(), category: this.acceptedCategory(proposal) });
        }
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

    cycleSelection(step) {
      const items = this.boxes.map((_, i) => ({ layer: "box", index: i }))
        .concat(this.proposals.map((_, i) => ({ layer: "proposal", index: i })));
      if (!items.length) return;
      let position = this.selection
        ? items.findIndex((it) => it.layer === this.selection.layer && it.index === this.selection.index) : -1;
      if (position < 0) position = step > 0 ? -1 : items.length;
      const next = items[(position + step + items.length) % items.length];
      this.select(next.layer, next.index);
      this.revealSelection();
    }

    /* ---------- view: zoom and pan ---------- */

    layout() {
      const rect = this.el.canvas.getBoundingClientRect();
      if (!rect.width || !rect.height) return;
      const scale = Math.min(rect.width / this.width, rect.height / this.height);
      this.layoutSize = { w: rect.width, h: rect.height, scale };
    }

    pixelsPerImagePixel() {
      return this.layoutSize.scale * this.view.zoom;
    }

    /* Keep the image in view: centred along an axis where it fits, never panned past its edges. */
    clampView() {
      const ppx = this.pixelsPerImagePixel();
      const vw = this.layoutSize.w / ppx;
      const vh = this.layoutSize.h / ppx;
      this.view.zoom = clamp(this.view.zoom, MIN_ZOOM, MAX_ZOOM);
      this.view.cx = vw >= this.width ? this.width / 2 : clamp(this.view.cx, vw / 2, this.width - vw / 2);
      this.view.cy = vh >= this.height ? this.height / 2 : clamp(this.view.cy, vh / 2, this.height - vh / 2);
    }

    visibleRect() {
      const ppx = this.pixelsPerImagePixel();
      const w = this.layoutSize.w / ppx;
      const h = this.layoutSize.h / ppx;
      return { x: this.view.cx - w / 2, y: this.view.cy - h / 2, w, h };
    }

    /* Zoom by ``factor`` keeping the image point under the screen point (fx, fy) (0..1 of the canvas) fixed. */
    zoomBy(factor, fx = 0.5, fy = 0.5) {
      if (!this.layoutSize.w) return;
      const before = this.visibleRect();
      const px = before.x + fx * before.w;
      const py = before.y + fy * before.h;
      this.view.zoom = clamp(this.view.zoom * factor, MIN_ZOOM, MAX_ZOOM);
      const ppx = this.pixelsPerImagePixel();
      const w = this.layoutSize.w / ppx;
      const h = this.layoutSize.h / ppx;
      this.view.cx = px - fx * w + w / 2;
      this.view.cy = py - fy * h + h / 2;
      this.viewChanged();
    }

    resetZoom() {
      this.view = { zoom: 1, cx: this.width / 2, cy: this.height / 2 };
      this.viewChanged();
    }

    panByScreen(dx, dy) {
      const ppx = this.pixelsPerImagePixel();
      this.view.cx += dx / ppx;
      this.view.cy += dy / ppx;
      this.viewChanged();
    }

    viewChanged() {
      this.render();
      this.notify();
    }

    /* Pan just enough to show the selected box when the view is zoomed in. */
    revealSelection() {
      const item = this.selectedBox() || this.selectedProposal();
      if (!item || this.view.zoom <= 1) return;
      const view = this.visibleRect();
      const [x0, y0, x1, y1] = item.box;
      if (x0 >= view.x && x1 <= view.x + view.w && y0 >= view.y && y1 <= view.y + view.h) return;
      this.view.cx = (x0 + x1) / 2;
      this.view.cy = (y0 + y1) / 2;
      this.viewChanged();
    }

    /* ---------- pointer ---------- */

    toImage(event) {
      const matrix = this.el.canvas.getScreenCTM();
      if (!matrix) return { x: 0, y: 0 };
      const point = new DOMPoint(event.clientX, event.clientY).matrixTransform(matrix.inverse());
      return { x: point.x, y: point.y };
    }

    onPointerDown(event) {
      if (this.picker) this.closePicker();
      if (this.gesture) return;
      const canvas = this.el.canvas;
      const start = { clientX: event.clientX, clientY: event.clientY };
      if (event.button === 1 || (event.button === 0 && this.spaceHeld)) {
        event.preventDefault();
        this.gesture = { type: "pan", start, last: start };
        this.root.classList.add("bx-panning");
        canvas.setPointerCapture(event.pointerId);
        return;
      }
      if (event.button !== 0) return;
      event.preventDefault();
      const point = this.toImage(event);
      const handle = event.target.closest("[data-handle]");
      const item = event.target.closest("[data-layer]");
      const before = this.snapshot();
      if (handle && this.selectedBox()) {
        this.gesture = { type: "resize", handle: handle.dataset.handle, point, box: this.selectedBox().box.slice(), before,
          start };
      } else if (item && !event.shiftKey && item.dataset.layer === "box") {
        const index = Number(item.dataset.index);
        this.select("box", index);
        this.gesture = { type: "move", point, box: this.boxes[index].box.slice(), before, start };
      } else if (item && !event.shiftKey && item.dataset.layer === "proposal") {
        this.select("proposal", Number(item.dataset.index));
        this.gesture = { type: "none" };
      } else {
        const origin = { x: clamp(point.x, 0, this.width), y: clamp(point.y, 0, this.height) };
        this.gesture = { type: "draw", origin, point: origin, start };
      }
      canvas.setPointerCapture(event.pointerId);
    }

    onPointerMove(event) {
      const gesture = this.gesture;
      if (!gesture) return;
      if (gesture.type === "pan") {
        this.panByScreen(gesture.last.clientX - event.clientX, gesture.last.clientY - event.clientY);
        gesture.last = { clientX: event.clientX, clientY: event.clientY };
        return;
      }
      const point = this.toImage(event);
      if (gesture.type === "draw") {
        gesture.point = { x: clamp(point.x, 0, this.width), y: clamp(point.y, 0, this.height) };
        this.renderDrawing();
      } else if (gesture.type === "move" || gesture.type === "resize") {
        const box = this.selectedBox();
        if (!box) return;
        // A click that wobbles a pixel selects the box; it must not nudge it.
        if (!gesture.moved) {
          const far = Math.max(Math.abs(event.clientX - gesture.start.clientX), Math.abs(event.clientY - gesture.start.clientY));
          if (far < MIN_DRAG_SCREEN_PX) return;
          gesture.moved = true;
        }
        const dx = point.x - gesture.point.x;
        const dy = point.y - gesture.point.y;
        box.box = gesture.type === "move" ? this.shifted(gesture.box, dx, dy) : this.resized(gesture.box, gesture.handle, dx, dy);
        this.renderItems();
      }
    }

    onPointerUp(event, cancelled) {
      const gesture = this.gesture;
      if (!gesture) return;
      this.gesture = null;
      if (this.el.canvas.hasPointerCapture(event.pointerId)) this.el.canvas.releasePointerCapture(event.pointerId);
      this.root.classList.remove("bx-panning");
      if (gesture.type === "draw") {
        this.el.drawing.setAttribute("visibility", "hidden");
        const dragged = Math.max(Math.abs(event.clientX - gesture.start.clientX), Math.abs(event.clientY - gesture.start.clientY));
        if (cancelled || dragged < MIN_DRAG_SCREEN_PX) {
          this.select(null);
          return;
        }
        const { origin, point } = gesture;
        if (!this.addBox([origin.x, origin.y, point.x, point.y])) this.select(null);
      } else if (gesture.type === "move" || gesture.type === "resize") {
        if (cancelled) {
          this.restore(gesture.before);
          this.changed();
          return;
        }
        this.commit(gesture.before);
      }
    }

    onWheel(event) {
      event.preventDefault();
      const rect = this.el.canvas.getBoundingClientRect();
      const delta = event.deltaMode === 1 ? event.deltaY * 16 : event.deltaY;
      this.zoomBy(Math.exp(-delta * WHEEL_ZOOM_PER_PIXEL),
        (event.clientX - rect.left) / rect.width, (event.clientY - rect.top) / rect.height);
    }

    setSpace(held) {
      if (this.spaceHeld === held) return;
      this.spaceHeld = held;
      this.root.classList.toggle("bx-space", held);
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
        case "zoom-in": return this.zoomBy(ZOOM_STEP);
        case "zoom-out": return this.zoomBy(1 / ZOOM_STEP);
        case "zoom-reset": return this.resetZoom();
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
      if (this.picker && event.target === this.el.pickerInput) {
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
      if (key.startsWith("Arrow")) return this.arrowKey(key, shift, alt);
      if (alt) return false;
      if (event.code in DIGIT_CODES) {
        const n = DIGIT_CODES[event.code];
        if (n >= this.common.length) this.say(MESSAGES.noQuickCategory(n + 1));
        else this.setCategory(this.common[n]);
        return true;
      }
      if (key === "0" || event.code === "Digit0" || event.code === "Numpad0") { this.resetZoom(); return true; }
      switch (lower) {
        case "Tab": this.cycleSelection(shift ? -1 : 1); return true;
        case "Escape":
          if (!this.selection) return false;
          this.select(null);
          return true;
        case "Delete": case "Backspace": this.deleteSelected(); return true;
        case " ": this.setSpace(true); return true;
        case "z": shift ? this.redo() : this.undo(); return true;
        case "y": this.redo(); return true;
        case "b": this.addBoxInView(); return true;
        case "n": this.toggleNothing(); return true;
        case "a": shift ? this.acceptAll() : this.acceptOne(); return true;
        case "x": shift ? this.rejectAll() : this.rejectSelectedProposal(); return true;
        case "c": case "/": this.openPicker(); return true;
        case "+": case "=": this.zoomBy(ZOOM_STEP); return true;
        case "-": case "_": this.zoomBy(1 / ZOOM_STEP); return true;
        default: return false;
      }
    }

    arrowKey(key, shift, alt) {
      const step = shift ? 10 : 1;
      const dx = key === "ArrowLeft" ? -step : key === "ArrowRight" ? step : 0;
      const dy = key === "ArrowUp" ? -step : key === "ArrowDown" ? step : 0;
      if (this.selectedBox()) {
        if (alt) this.resizeSelected(dx, dy);
        else this.moveSelected(dx, dy);
        return true;
      }
      if (alt) return false;
      this.panByScreen(Math.sign(dx) * PAN_STEP_SCREEN_PX, Math.sign(dy) * PAN_STEP_SCREEN_PX);
      return true;
    }

    /* ---------- category picker ---------- */

    /* Search the category of the selected box or proposal, else the category of new boxes. */
    openPicker() {
      const box = this.selectedBox();
      const proposal = this.selectedProposal();
      const target = box ? { layer: "box", index: this.selection.index } : proposal
        ? { layer: "proposal", index: this.selection.index } : { layer: "current" };
      const selected = box ? box.category : proposal ? proposal.category : this.current;
      this.picker = { target, matches: [], highlight: 0, selected };
      this.el.pickerTitle.textContent = box ? "Category of box " + (this.selection.index + 1)
        : proposal ? "Accept proposal " + (this.selection.index + 1) + " as" : "Category of new boxes";
      this.el.pickerInput.value = "";
      this.el.picker.hidden = false;
      this.root.dataset.picker = "open";
      this.pickerFilter();
      this.placePicker();
      this.el.pickerInput.focus();
    }

    closePicker() {
      const wasOpen = Boolean(this.picker);
      this.picker = null;
      if (this.el && this.el.picker) {
        this.el.picker.hidden = true;
        if (wasOpen && document.activeElement === this.el.pickerInput) this.el.pickerInput.blur();
      }
      if (this.root) this.root.dataset.picker = "closed";
    }

    /* Under the box it is for (above it when there is no room below), inside the stage. */
    placePicker() {
      const picker = this.el.picker;
      const stage = this.el.stage.getBoundingClientRect();
      const item = this.selectedBox() || this.selectedProposal();
      const width = picker.offsetWidth || 280;
      const height = picker.offsetHeight || 300;
      const gap = 6;
      let left = 12;
      let top = 12;
      const matrix = item && this.el.canvas.getScreenCTM();
      if (matrix) {
        const topLeft = new DOMPoint(item.box[0], item.box[1]).matrixTransform(matrix);
        const bottom = new DOMPoint(item.box[0], item.box[3]).matrixTransform(matrix);
        const bottomRight = new DOMPoint(item.box[2], item.box[3]).matrixTransform(matrix);
        left = topLeft.x - stage.left;
        const below = bottom.y - stage.top + gap;
        const above = topLeft.y - stage.top - gap - height;
        if (below + height <= stage.height - 8) {
          top = below;
        } else if (above >= 8) {
          top = above;
        } else {
          // A tall box: beside it, on the side with room.
          const right = bottomRight.x - stage.left + gap;
          left = right + width <= stage.width - 8 ? right : topLeft.x - stage.left - gap - width;
          top = topLeft.y - stage.top;
        }
      }
      picker.style.left = clamp(left, 8, Math.max(8, stage.width - width - 8)) + "px";
      picker.style.top = clamp(top, 8, Math.max(8, stage.height - height - 8)) + "px";
    }

    pickerFilter() {
      if (!this.picker) return;
      const query = this.el.pickerInput.value.trim().toLowerCase();
      const commonRank = new Map(this.common.map((slug, i) => [slug, i]));
      const scored = [];
      this.categories.forEach((category, order) => {
        const name = String(category.name || category.slug).toLowerCase();
        const slug = String(category.slug).toLowerCase();
        const coarse = String(category.coarse || "").toLowerCase();
        let rank;
        if (!query) rank = 0;
        else if (name.startsWith(query) || slug.startsWith(query)) rank = 0;
        else if (name.split(/[^a-z0-9]+/).some((word) => word.startsWith(query))) rank = 1;
        else if (name.includes(query) || slug.includes(query)) rank = 2;
        else if (coarse.includes(query)) rank = 3;
        else return;
        const common = commonRank.has(category.slug) ? commonRank.get(category.slug) : 99;
        scored.push({ category, rank, common, order });
      });
      scored.sort((a, b) => a.rank - b.rank || a.common - b.common || a.order - b.order);
      this.picker.matches = scored.map((s) => s.category);
      const selectedAt = this.picker.matches.findIndex((c) => c.slug === this.picker.selected);
      this.picker.highlight = !query && selectedAt >= 0 ? selectedAt : 0;
      this.renderPickerList();
    }

    renderPickerList() {
      const list = this.el.pickerList;
      list.replaceChildren();
      const { matches, highlight } = this.picker;
      if (!matches.length) {
        list.appendChild(html("li", "bx-picker-none muted small", "No category matches."));
        return;
      }
      matches.forEach((category, i) => {
        const option = html("li", "bx-picker-option" + (i === highlight ? " active" : ""));
        option.setAttribute("role", "option");
        option.setAttribute("aria-selected", i === highlight ? "true" : "false");
        option.dataset.slug = category.slug;
        option.title = (category.name || category.slug) + (category.coarse ? " (" + category.coarse + ")" : "");
        option.setAttribute("data-testid", "category-option-" + category.slug);
        const quick = this.common.indexOf(category.slug);
        option.append(this.swatch(category.slug), html("span", "bx-option-name", category.name || category.slug),
          html("span", "bx-option-coarse muted small", category.coarse || ""));
        if (quick >= 0) option.appendChild(html("kbd", "bx-option-key", String(quick + 1)));
        list.appendChild(option);
      });
      const active = list.children[highlight];
      if (active && active.scrollIntoView) active.scrollIntoView({ block: "nearest" });
    }

    /* Keys while the search has focus; true when the key was the picker's (the browser's default is then stopped). */
    pickerKey(event) {
      if (!this.picker) return false;
      const count = this.picker.matches.length;
      switch (event.key) {
        case "ArrowDown":
          if (count) this.picker.highlight = (this.picker.highlight + 1) % count;
          this.renderPickerList();
          return true;
        case "ArrowUp":
          if (count) this.picker.highlight = (this.picker.highlight - 1 + count) % count;
          this.renderPickerList();
          return true;
        case "Enter":
          if (count) this.pickerChoose(this.picker.matches[this.picker.highlight].slug);
          return true;
        case "Escape":
          this.closePicker();
          return true;
        case "Tab":
          return true;
        default:
          return false;
      }
    }

    pickerChoose(slug) {
      if (!this.picker) return;
      const target = this.picker.target;
      this.closePicker();
      if (target.layer === "current") {
        this.selection = null;
      } else {
        this.selection = { layer: target.layer, index: target.index };
      }
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
      this.clampView();
      const view = this.visibleRect();
      if (this.layoutSize.w) {
        this.el.canvas.setAttribute("viewBox", [view.x, view.y, view.w, view.h].map((v) => v.toFixed(3)).join(" "));
      }
      this.el.zoom.textContent = Math.round(this.view.zoom * 100) + "%";
      this.root.dataset.zoom = this.view.zoom.toFixed(3);
      // Zoomed in on a small object, the labeler boxes pixels: show them, not a blur.
      this.root.classList.toggle("bx-pixelated", this.pixelsPerImagePixel() >= 3);
      this.renderItems();
      this.renderSide();
    }

    renderItems() {
      const ppx = this.pixelsPerImagePixel() || 1;
      const items = this.el.items;
      items.replaceChildren();
      const entries = this.boxes.map((b, i) => ({ layer: "box", index: i, item: b }))
        .concat(this.proposals.map((p, i) => ({ layer: "proposal", index: i, item: p })));
      // Big boxes first, so a small box inside a big one stays on top and can be clicked.
      const area = (b) => (b[2] - b[0]) * (b[3] - b[1]);
      entries.sort((a, b) => area(b.item.box) - area(a.item.box));
      for (const entry of entries) items.appendChild(this.itemNode(entry, ppx));
      this.renderHandles(ppx);
      this.root.dataset.selected = this.selection ? this.selection.layer + "-" + this.selection.index : "";
    }

    itemNode({ layer, index, item }, ppx) {
      const [x0, y0, x1, y1] = item.box;
      const selected = Boolean(this.selection && this.selection.layer === layer && this.selection.index === index);
      const group = svg("g", {
        class: "bx-item bx-" + layer + (selected ? " selected" : ""),
        "data-testid": layer + "-" + index,
        "data-layer": layer,
        "data-index": index,
        "data-box": item.box.map(round1).join(","),
        "data-category": item.category,
      });
      if (layer === "proposal") group.setAttribute("data-score", String(item.score));
      group.style.setProperty("--bx-colour", this.colour(item.category));
      const attributes = { x: x0, y: y0, width: x1 - x0, height: y1 - y0 };
      if (selected) group.appendChild(svg("rect", Object.assign({ class: "bx-halo" }, attributes)));
      group.appendChild(svg("rect", Object.assign({ class: "bx-rect" }, attributes)));
      const font = LABEL_SCREEN_PX / ppx;
      const number = layer === "box" ? String(index + 1) : "P" + (index + 1);
      const caption = number + " " + this.categoryName(item.category) +
        (layer === "proposal" ? " " + Math.round(item.score * 100) + "%" : "");
      // Above the box, clear of the selection's handles; inside it when the box touches the top.
      const lift = (HANDLE_SCREEN_PX / 2 + 3) / ppx;
      const labelY = y0 - lift > font ? y0 - lift : y0 + font * 1.05;
      const text = svg("text", { class: "bx-caption", x: x0 + font * 0.2, y: labelY, "font-size": font.toFixed(3),
        "stroke-width": (font * 0.22).toFixed(3) });
      text.textContent = caption;
      group.appendChild(text);
      return group;
    }

    renderHandles(ppx) {
      const handles = this.el.handles;
      handles.replaceChildren();
      const box = this.selectedBox();
      if (!box) return;
      const [x0, y0, x1, y1] = box.box;
      const size = HANDLE_SCREEN_PX / ppx;
      // Edge handles would cover a small box; its corners are enough to resize it.
      const small = (x1 - x0) * ppx < HANDLE_SCREEN_PX * 3 || (y1 - y0) * ppx < HANDLE_SCREEN_PX * 3;
      const xm = (x0 + x1) / 2;
      const ym = (y0 + y1) / 2;
      const at = { nw: [x0, y0], n: [xm, y0], ne: [x1, y0], e: [x1, ym], se: [x1, y1], s: [xm, y1], sw: [x0, y1], w: [x0, ym] };
      for (const name of HANDLES) {
        if (small && name.length === 1) continue;
        const [x, y] = at[name];
        handles.appendChild(svg("rect", { class: "bx-handle", "data-handle": name, "data-testid": "handle-" + name,
          x: x - size / 2, y: y - size / 2, width: size, height: size }));
      }
    }

    renderDrawing() {
      const { origin, point } = this.gesture;
      const rect = this.el.drawing;
      rect.setAttribute("x", Math.min(origin.x, point.x));
      rect.setAttribute("y", Math.min(origin.y, point.y));
      rect.setAttribute("width", Math.abs(point.x - origin.x));
      rect.setAttribute("height", Math.abs(point.y - origin.y));
      rect.style.setProperty("--bx-colour", this.colour(this.current));
      rect.setAttribute("visibility", "visible");
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

    boxRow(entry, index) {
      const selected = Boolean(this.selection && this.selection.layer === "box" && this.selection.index === index);
      const row = html("li", "bx-row" + (selected ? " selected" : ""));
      row.dataset.action = "select-box";
      row.dataset.index = String(index);
      row.setAttribute("data-testid", "box-row-" + index);
      const [x0, y0, x1, y1] = entry.box;
      const category = html("button", "bx-row-category", this.categoryName(entry.category));
      Object.assign(category, { type: "button", tabIndex: -1, title: "Change the category (C)" });
      category.dataset.action = "box-category";
      category.dataset.index = String(index);
      const remove = html("button", "bx-row-delete", "\u00d7");
      Object.assign(remove, { type: "button", tabIndex: -1, title: "Delete this box (Del)" });
      remove.setAttribute("aria-label", "Delete box " + (index + 1));
      remove.dataset.action = "delete-box";
      remove.dataset.index = String(index);
      row.append(this.swatch(entry.category), html("span", "bx-row-number", String(index + 1)), category,
        html("span", "bx-row-size muted small", Math.round(x1 - x0) + "\u00d7" + Math.round(y1 - y0)), remove);
      return row;
    }

    proposalRow(entry, index) {
      const selected = Boolean(this.selection && this.selection.layer === "proposal" && this.selection.index === index);
      const row = html("li", "bx-row proposal" + (selected ? " selected" : ""));
      row.dataset.action = "select-proposal";
      row.dataset.index = String(index);
      row.setAttribute("data-testid", "proposal-row-" + index);
      const accept = html("button", "bx-row-accept", "\u2713");
      Object.assign(accept, { type: "button", tabIndex: -1, title: "Accept this proposal (A)" });
      accept.setAttribute("aria-label", "Accept proposal " + (index + 1));
      accept.dataset.action = "accept-proposal";
      accept.dataset.index = String(index);
      const remove = html("button", "bx-row-delete", "\u00d7");
      Object.assign(remove, { type: "button", tabIndex: -1, title: "Delete this proposal (X)" });
      remove.setAttribute("aria-label", "Delete proposal " + (index + 1));
      remove.dataset.action = "reject-proposal";
      remove.dataset.index = String(index);
      row.append(this.swatch(entry.category, true), html("span", "bx-row-number", "P" + (index + 1)),
        html("span", "bx-row-name", this.categoryName(entry.category)),
        html("span", "bx-row-size muted small", Math.round(entry.score * 100) + "%"), accept, remove);
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
