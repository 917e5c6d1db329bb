/* The box canvas: a scene in an <svg> whose viewBox is in image pixels, with zoom, pan and the
 * pointer gestures that draw, select, move and resize boxes. Editors of box-shaped task kinds build
 * on it (editors/boxes.js); it knows nothing of categories, proposals, undo or the session: it draws
 * the boxes it is given and reports what the labeler's pointer did through callbacks.
 *
 * Markup (inside `stage`): <svg data-role="canvas"> holding <image data-role="image">,
 * <rect data-role="frame">, <g data-role="items">, <g data-role="handles"> and
 * <rect data-role="drawing"> (templates/frontend/editors/box_canvas.html is that svg, to include; its zoom
 * buttons are editors/box_canvas_zoom.html). Styles are the bx-* classes of editors/boxes.css. State goes on `root`:
 * data-image-state, data-zoom, data-selected and the classes bx-space, bx-panning, bx-pixelated.
 *
 *   const canvas = ShopBoxCanvas.create({ stage, root, zoomLabel, imageError, image: {url, width, height},
 *                                         view, newBoxColour: () => "#e6194b", on: {...callbacks} });
 *   canvas.draw(items, selection)  // items: [{layer, index, box: [x0, y0, x1, y1], colour, caption,
 *                                  //   movable, data: {name: value}}]; selection: {layer, index} | null
 *
 * Callbacks (`on`), each optional; `item` is {layer, index} of a drawn item:
 *   press()                    any press on the scene, before its gesture (close popups here)
 *   select(item | null)        a press on an item that is not movable; a click on empty image: null
 *   draw(box)                  a box dragged out on the image (Shift+drag starts one over an item)
 *   editStart(item, kind)      a press on a movable item ("move") or on the selected one's handle ("resize")
 *   edit(item, box)            the item's new box while dragging, already kept inside the image
 *   editEnd(item, cancelled)   the drag ended; cancelled when the browser cancelled the pointer
 *   view(view)                 zoom or pan changed ({zoom, cx, cy}: what `view` restores)
 *   imageState(state)          "loaded" or "failed"
 *
 * Methods: zoomBy / zoomIn / zoomOut / fit / panByScreen / reveal(box) / viewKey(event) (+ - 0,
 * arrows, Space) / viewState(); toImage / toScreen; clean / shifted / resized / nudged(box, event) /
 * boxInView(share); nextItem(current, step); placeBeside(element, box); destroy().
 * Everything is an image pixel: boxes, the view's centre, what toImage() returns.
 */
(function () {
  "use strict";

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
  const HANDLES = ["nw", "n", "ne", "e", "se", "s", "sw", "w"];
  const ARROWS = { ArrowLeft: [-1, 0], ArrowRight: [1, 0], ArrowUp: [0, -1], ArrowDown: [0, 1] };

  const round1 = (v) => Math.round(v * 10) / 10;
  const clamp = (v, lo, hi) => Math.min(hi, Math.max(lo, v));
  const isNumber = (v) => typeof v === "number" && Number.isFinite(v);

  function svg(name, attributes) {
    const node = document.createElementNS(SVG_NS, name);
    for (const [key, value] of Object.entries(attributes || {})) node.setAttribute(key, String(value));
    return node;
  }

  /* A box ordered, inside a width x height image, rounded to 0.1 px; null when it is not one. */
  function cleanBox(box, width, height) {
    if (!Array.isArray(box) || box.length !== 4 || !box.every(isNumber)) return null;
    let [x0, y0, x1, y1] = box;
    [x0, x1] = [Math.min(x0, x1), Math.max(x0, x1)];
    [y0, y1] = [Math.min(y0, y1), Math.max(y0, y1)];
    x0 = round1(clamp(x0, 0, width));
    x1 = round1(clamp(x1, 0, width));
    y0 = round1(clamp(y0, 0, height));
    y1 = round1(clamp(y1, 0, height));
    if (x1 - x0 < MIN_BOX_PX || y1 - y0 < MIN_BOX_PX) return null;
    return [x0, y0, x1, y1];
  }

  class BoxCanvas {
    constructor({ stage, root, zoomLabel, imageError, image, view, newBoxColour, on }) {
      const part = (role) => stage.querySelector('[data-role="' + role + '"]');
      this.stage = stage;
      this.root = root || stage;
      this.el = { canvas: part("canvas"), image: part("image"), frame: part("frame"), items: part("items"),
        handles: part("handles"), drawing: part("drawing"), zoom: zoomLabel || null, imageError: imageError || null };
      if (!this.el.canvas) throw new Error("The box canvas needs an <svg data-role=\"canvas\"> in its stage.");
      this.on = on || {};
      this.newBoxColour = typeof newBoxColour === "function" ? newBoxColour : () => "";
      this.imageUrl = (image && image.url) || "";
      this.width = Number(image && image.width) || 1;
      this.height = Number(image && image.height) || 1;
      this.view = { zoom: 1, cx: this.width / 2, cy: this.height / 2 };
      if (view && isNumber(view.zoom) && isNumber(view.cx) && isNumber(view.cy)) {
        this.view = { zoom: clamp(view.zoom, MIN_ZOOM, MAX_ZOOM), cx: view.cx, cy: view.cy };
      }
      this.items = [];
      this.selection = null;
      this.gesture = null;
      this.spaceHeld = false;
      this.layoutSize = { w: 0, h: 0, scale: 1 };
      this.listeners = new AbortController();
      this.bindEvents();
      this.renderStatic();
      this.layout();
    }

    emit(name, ...args) {
      const callback = this.on[name];
      if (typeof callback === "function") callback(...args);
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
      // The middle button would start the browser's autoscroll; the canvas pans with it instead.
      on(canvas, "mousedown", (e) => { if (e.button === 1) e.preventDefault(); });
      on(canvas, "auxclick", (e) => { if (e.button === 1) e.preventDefault(); });
      on(canvas, "contextmenu", (e) => { if (this.gesture) e.preventDefault(); });
      on(this.el.image, "error", () => this.setImageState("failed"));
      on(this.el.image, "load", () => this.setImageState("loaded"));
      on(document, "keyup", (e) => { if (e.key === " ") this.holdSpace(false); });
      on(window, "blur", () => this.holdSpace(false));
      if (typeof ResizeObserver === "function") {
        this.resizeObserver = new ResizeObserver(() => { this.layout(); this.render(); });
        this.resizeObserver.observe(this.stage);
      } else {
        on(window, "resize", () => { this.layout(); this.render(); });
      }
    }

    renderStatic() {
      this.stage.style.aspectRatio = this.width + " / " + this.height;
      for (const node of [this.el.image, this.el.frame]) {
        node.setAttribute("width", this.width);
        node.setAttribute("height", this.height);
      }
      if (this.el.imageError) this.el.imageError.hidden = true;
      this.root.dataset.imageState = "loading";
      this.root.dataset.imageWidth = String(this.width);
      this.root.dataset.imageHeight = String(this.height);
      this.el.image.setAttribute("href", this.imageUrl);
    }

    setImageState(state) {
      this.root.dataset.imageState = state;
      if (state === "failed" && this.el.imageError) this.el.imageError.hidden = false;
      this.emit("imageState", state);
    }

    destroy() {
      this.listeners.abort();
      if (this.resizeObserver) this.resizeObserver.disconnect();
      this.gesture = null;
      this.items = [];
      this.el.items.replaceChildren();
      this.el.handles.replaceChildren();
      this.el.image.removeAttribute("href");
    }

    /* ---------- boxes and the image ---------- */

    clean(box) {
      return cleanBox(box, this.width, this.height);
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

    /* The box an arrow key moves by 1 px (Shift: 10 px), or with Alt resizes by its right and bottom edges. */
    nudged(box, event) {
      const step = event.shiftKey ? 10 : 1;
      const [dx, dy] = (ARROWS[event.key] || [0, 0]).map((v) => v * step);
      return event.altKey ? this.resized(box, "se", dx, dy) : this.shifted(box, dx, dy);
    }

    /* A box ``share`` of the visible part of the image wide and high, in its middle. */
    boxInView(share) {
      // At zoom 1 the view also holds the margins around the image.
      const view = this.visibleRect();
      const x = Math.max(0, view.x);
      const y = Math.max(0, view.y);
      const w = Math.min(this.width, view.x + view.w) - x;
      const h = Math.min(this.height, view.y + view.h) - y;
      const bw = Math.max(MIN_BOX_PX * 4, w * share);
      const bh = Math.max(MIN_BOX_PX * 4, h * share);
      const cx = clamp(x + w / 2, bw / 2, this.width - bw / 2);
      const cy = clamp(y + h / 2, bh / 2, this.height - bh / 2);
      return [cx - bw / 2, cy - bh / 2, cx + bw / 2, cy + bh / 2];
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

    /* The part of the scene in view, {x, y, w, h} in image pixels. */
    visibleRect() {
      const ppx = this.pixelsPerImagePixel();
      const w = this.layoutSize.w / ppx;
      const h = this.layoutSize.h / ppx;
      return { x: this.view.cx - w / 2, y: this.view.cy - h / 2, w, h };
    }

    /* What `view` restores in a later create(). */
    viewState() {
      return { zoom: this.view.zoom, cx: this.view.cx, cy: this.view.cy };
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

    zoomIn() { this.zoomBy(ZOOM_STEP); }

    zoomOut() { this.zoomBy(1 / ZOOM_STEP); }

    /* The whole image, as at the start. */
    fit() {
      this.view = { zoom: 1, cx: this.width / 2, cy: this.height / 2 };
      this.viewChanged();
    }

    panByScreen(dx, dy) {
      const ppx = this.pixelsPerImagePixel();
      this.view.cx += dx / ppx;
      this.view.cy += dy / ppx;
      this.viewChanged();
    }

    /* Centre the view on ``box`` when the view is zoomed in and the box is not wholly in it. */
    reveal(box) {
      if (!box || this.view.zoom <= 1) return;
      const view = this.visibleRect();
      const [x0, y0, x1, y1] = box;
      if (x0 >= view.x && x1 <= view.x + view.w && y0 >= view.y && y1 <= view.y + view.h) return;
      this.view.cx = (x0 + x1) / 2;
      this.view.cy = (y0 + y1) / 2;
      this.viewChanged();
    }

    viewChanged() {
      this.render();
      this.emit("view", this.viewState());
    }

    /* The view's keys: + - zoom, 0 fits, arrows pan, Space held turns a drag into a pan. True when taken. */
    viewKey(event) {
      if (event.ctrlKey || event.metaKey || event.altKey) return false;
      const key = event.key;
      if (key in ARROWS) {
        const [dx, dy] = ARROWS[key];
        this.panByScreen(dx * PAN_STEP_SCREEN_PX, dy * PAN_STEP_SCREEN_PX);
        return true;
      }
      if (key === "0" || event.code === "Digit0" || event.code === "Numpad0") { this.fit(); return true; }
      switch (key) {
        case " ": this.holdSpace(true); return true;
        case "+": case "=": this.zoomIn(); return true;
        case "-": case "_": this.zoomOut(); return true;
        default: return false;
      }
    }

    holdSpace(held) {
      if (this.spaceHeld === held) return;
      this.spaceHeld = held;
      this.root.classList.toggle("bx-space", held);
    }

    /* ---------- coordinates ---------- */

    toImage(clientX, clientY) {
      const matrix = this.el.canvas.getScreenCTM();
      if (!matrix) return { x: 0, y: 0 };
      const point = new DOMPoint(clientX, clientY).matrixTransform(matrix.inverse());
      return { x: point.x, y: point.y };
    }

    /* The client (viewport) point of an image point; null while the canvas is not laid out. */
    toScreen(x, y) {
      const matrix = this.el.canvas.getScreenCTM();
      if (!matrix) return null;
      const point = new DOMPoint(x, y).matrixTransform(matrix);
      return { x: point.x, y: point.y };
    }

    /* Place ``element`` (absolutely positioned in the stage) under ``box``, above it when there is no
     * room below, beside it when neither fits; inside the stage. Without a box: the top left corner. */
    placeBeside(element, box) {
      const stage = this.stage.getBoundingClientRect();
      const width = element.offsetWidth || 280;
      const height = element.offsetHeight || 300;
      const gap = 6;
      let left = 12;
      let top = 12;
      const topLeft = box && this.toScreen(box[0], box[1]);
      if (topLeft) {
        const bottom = this.toScreen(box[0], box[3]);
        const bottomRight = this.toScreen(box[2], box[3]);
        left = topLeft.x - stage.left;
        const below = bottom.y - stage.top + gap;
        const above = topLeft.y - stage.top - gap - height;
        if (below + height <= stage.height - 8) {
          top = below;
        } else if (above >= 8) {
          top = above;
        } else {
          const right = bottomRight.x - stage.left + gap;
          left = right + width <= stage.width - 8 ? right : topLeft.x - stage.left - gap - width;
          top = topLeft.y - stage.top;
        }
      }
      element.style.left = clamp(left, 8, Math.max(8, stage.width - width - 8)) + "px";
      element.style.top = clamp(top, 8, Math.max(8, stage.height - height - 8)) + "px";
    }

    /* ---------- drawing ---------- */

    /* Draw ``items`` from now on (and on every zoom or pan); ``selection`` ({layer, index} or null) is
     * highlighted, with handles when it is movable, and written to data-selected ("layer-index") on root. */
    draw(items, selection) {
      this.items = Array.isArray(items) ? items : [];
      this.selection = selection ? { layer: selection.layer, index: selection.index } : null;
      this.root.dataset.selected = this.selection ? this.selection.layer + "-" + this.selection.index : "";
      this.render();
    }

    isSelected(item) {
      return Boolean(this.selection && this.selection.layer === item.layer && this.selection.index === item.index);
    }

    render() {
      this.clampView();
      const view = this.visibleRect();
      if (this.layoutSize.w) {
        this.el.canvas.setAttribute("viewBox", [view.x, view.y, view.w, view.h].map((v) => v.toFixed(3)).join(" "));
      }
      if (this.el.zoom) this.el.zoom.textContent = Math.round(this.view.zoom * 100) + "%";
      this.root.dataset.zoom = this.view.zoom.toFixed(3);
      // Zoomed in on a small object, the labeler boxes pixels: show them, not a blur.
      this.root.classList.toggle("bx-pixelated", this.pixelsPerImagePixel() >= 3);
      this.renderItems();
    }

    renderItems() {
      const ppx = this.pixelsPerImagePixel() || 1;
      // Big boxes first, so a small box inside a big one stays on top and can be clicked.
      const area = (b) => (b[2] - b[0]) * (b[3] - b[1]);
      const ordered = this.items.slice().sort((a, b) => area(b.box) - area(a.box));
      this.el.items.replaceChildren(...ordered.map((item) => this.itemNode(item, ppx)));
      this.renderHandles(ppx);
    }

    itemNode(item, ppx) {
      const [x0, y0, x1, y1] = item.box;
      const selected = this.isSelected(item);
      const group = svg("g", {
        class: "bx-item bx-" + item.layer + (selected ? " selected" : ""),
        "data-testid": item.layer + "-" + item.index,
        "data-layer": item.layer,
        "data-index": item.index,
        "data-box": item.box.map(round1).join(","),
      });
      for (const [name, value] of Object.entries(item.data || {})) group.setAttribute("data-" + name, String(value));
      if (item.colour) group.style.setProperty("--bx-colour", item.colour);
      const attributes = { x: x0, y: y0, width: x1 - x0, height: y1 - y0 };
      if (selected) group.appendChild(svg("rect", Object.assign({ class: "bx-halo" }, attributes)));
      group.appendChild(svg("rect", Object.assign({ class: "bx-rect" }, attributes)));
      if (item.caption) {
        const font = LABEL_SCREEN_PX / ppx;
        // Above the box, clear of the selection's handles; inside it when the box touches the top.
        const lift = (HANDLE_SCREEN_PX / 2 + 3) / ppx;
        const labelY = y0 - lift > font ? y0 - lift : y0 + font * 1.05;
        const text = svg("text", { class: "bx-caption", x: x0 + font * 0.2, y: labelY, "font-size": font.toFixed(3),
          "stroke-width": (font * 0.22).toFixed(3) });
        text.textContent = item.caption;
        group.appendChild(text);
      }
      return group;
    }

    /* The item ``step`` places after ``current`` ({layer, index} or null) in the order draw() got them; null when none. */
    nextItem(current, step) {
      const items = this.items;
      if (!items.length) return null;
      let position = current ? items.findIndex((it) => it.layer === current.layer && it.index === current.index) : -1;
      if (position < 0) position = step > 0 ? -1 : items.length;
      const next = items[(position + step + items.length) % items.length];
      return { layer: next.layer, index: next.index };
    }

    /* The item with resize handles: the selected one, when it can be moved. */
    handledItem() {
      return this.items.find((item) => item.movable && this.isSelected(item)) || null;
    }

    renderHandles(ppx) {
      const handles = this.el.handles;
      handles.replaceChildren();
      const item = this.handledItem();
      if (!item) return;
      const [x0, y0, x1, y1] = item.box;
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
      rect.style.setProperty("--bx-colour", this.newBoxColour());
      rect.setAttribute("visibility", "visible");
    }

    /* ---------- pointer gestures ---------- */

    onPointerDown(event) {
      this.emit("press");
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
      const point = this.toImage(event.clientX, event.clientY);
      const handle = event.target.closest("[data-handle]");
      const node = event.target.closest("[data-layer]");
      const handled = this.handledItem();
      const hit = node && this.items.find((it) => it.layer === node.dataset.layer && it.index === Number(node.dataset.index));
      if (handle && handled) {
        this.startEdit({ type: "resize", handle: handle.dataset.handle, item: handled, point, start });
      } else if (hit && !event.shiftKey && hit.movable) {
        this.startEdit({ type: "move", item: hit, point, start });
      } else if (hit && !event.shiftKey) {
        this.emit("select", { layer: hit.layer, index: hit.index });
        this.gesture = { type: "none" };
      } else {
        const origin = { x: clamp(point.x, 0, this.width), y: clamp(point.y, 0, this.height) };
        this.gesture = { type: "draw", origin, point: origin, start };
      }
      canvas.setPointerCapture(event.pointerId);
    }

    startEdit({ type, handle, item, point, start }) {
      const target = { layer: item.layer, index: item.index };
      // The box as it was at the press: every move measures from it, whatever the editor redraws meanwhile.
      this.gesture = { type, handle, target, point, box: item.box.slice(), start };
      this.emit("editStart", target, type);
    }

    onPointerMove(event) {
      const gesture = this.gesture;
      if (!gesture) return;
      if (gesture.type === "pan") {
        this.panByScreen(gesture.last.clientX - event.clientX, gesture.last.clientY - event.clientY);
        gesture.last = { clientX: event.clientX, clientY: event.clientY };
        return;
      }
      const point = this.toImage(event.clientX, event.clientY);
      if (gesture.type === "draw") {
        gesture.point = { x: clamp(point.x, 0, this.width), y: clamp(point.y, 0, this.height) };
        this.renderDrawing();
      } else if (gesture.type === "move" || gesture.type === "resize") {
        // A click that wobbles a pixel selects the box; it must not nudge it.
        if (!gesture.moved) {
          const far = Math.max(Math.abs(event.clientX - gesture.start.clientX), Math.abs(event.clientY - gesture.start.clientY));
          if (far < MIN_DRAG_SCREEN_PX) return;
          gesture.moved = true;
        }
        const dx = point.x - gesture.point.x;
        const dy = point.y - gesture.point.y;
        const box = gesture.type === "move" ? this.shifted(gesture.box, dx, dy) : this.resized(gesture.box, gesture.handle, dx, dy);
        this.emit("edit", gesture.target, box);
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
          this.emit("select", null);
          return;
        }
        const { origin, point } = gesture;
        this.emit("draw", [origin.x, origin.y, point.x, point.y]);
      } else if (gesture.type === "move" || gesture.type === "resize") {
        this.emit("editEnd", gesture.target, Boolean(cancelled));
      }
    }

    onWheel(event) {
      event.preventDefault();
      const rect = this.el.canvas.getBoundingClientRect();
      const delta = event.deltaMode === 1 ? event.deltaY * 16 : event.deltaY;
      this.zoomBy(Math.exp(-delta * WHEEL_ZOOM_PER_PIXEL),
        (event.clientX - rect.left) / rect.width, (event.clientY - rect.top) / rect.height);
    }
  }

  window.ShopBoxCanvas = {
    create(options) {
      return new BoxCanvas(options);
    },
    cleanBox,
    MIN_BOX_PX,
  };
})();
