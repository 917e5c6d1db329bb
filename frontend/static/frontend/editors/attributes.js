/* The attribute editor: one value for every attribute of a product crop's category (colour,
 * pattern, fabric, ...), or "Can't tell". The session (session.js) owns claiming, submitting and
 * drafts; this module only turns a task into an answer (docs/TASK_KINDS.md).
 *
 * Keys (listed on the page, editors/attributes.html): the digit keys pick a value of the focused
 * row by its place in the list (1-9, 0 the 10th, Shift+1 to Shift+0 the 11th to 20th) and move to
 * the next row; "-" is "Can't tell"; Up/Down and Tab/Shift+Tab move between rows; Left/Right step
 * the focused row's value through its whole list, so a list of any length is reachable without the
 * mouse; Backspace/Delete clears. Digits are read by physical key (event.code), so layouts that
 * need Shift for digits (AZERTY) still get 1-10 unshifted. Enter, K, G and ? are the session's.
 */
(function () {
  "use strict";

  const KIND = "attributes";
  const DRAFT_VERSION = 1;
  const DEFAULT_CANT_TELL = "cant_tell";
  const CANT_TELL_KEY = "-";
  // The session's own keys (docs/TASK_KINDS.md): never taken, so Enter submits and K skips.
  const SESSION_KEYS = new Set(["enter", "k", "g", "?", "escape"]);
  const DIGIT_CODES = {
    Digit1: 0, Digit2: 1, Digit3: 2, Digit4: 3, Digit5: 4, Digit6: 5, Digit7: 6, Digit8: 7, Digit9: 8, Digit0: 9,
    Numpad1: 0, Numpad2: 1, Numpad3: 2, Numpad4: 3, Numpad5: 4, Numpad6: 5, Numpad7: 6, Numpad8: 7, Numpad9: 8,
    Numpad0: 9,
  };
  const DIGITS_PER_BANK = 10;
  // Shift + a digit is the second bank: values 11-20.
  const KEYED_VALUES = 2 * DIGITS_PER_BANK;

  const MESSAGES = {
    missing: (labels) => (labels.length === 1
      ? labels[0] + " has no value yet."
      : labels.slice(0, -1).join(", ") + " and " + labels[labels.length - 1] + " have no value yet."),
    noSuchValue: (label, key, count) => label + " has no value " + key + " (it has " + count + ").",
    unknownCategory: (category) => "This page has no attribute list for the category " + category +
      ": skip this task with K.",
    noAttributes: "This category has no attributes: submit with Enter.",
    cropFailed: "The crop did not load: skip this task with K.",
  };

  // The key that picks the value at ``index`` of a row, as the page shows it, or "" past the keyed ones.
  function keyHint(index) {
    if (index >= KEYED_VALUES) return "";
    const digit = String((index % DIGITS_PER_BANK + 1) % DIGITS_PER_BANK);
    return index < DIGITS_PER_BANK ? digit : "\u21e7" + digit;
  }

  function valueText(value) {
    return String(value).replace(/_/g, " ");
  }

  function html(tag, className, text) {
    const node = document.createElement(tag);
    if (className) node.className = className;
    if (text !== undefined) node.textContent = text;
    return node;
  }

  function create({ host, task, context, draft, initialAnswer, onChange }) {
    const payload = task.payload || {};
    const cantTell = context.cant_tell || DEFAULT_CANT_TELL;
    const byCategory = context.attributes_by_category || {};
    const categoryKnown = Object.prototype.hasOwnProperty.call(byCategory, payload.category);
    const rows = (categoryKnown ? byCategory[payload.category] : []).map((attribute) => ({
      name: attribute.name,
      label: attribute.label || valueText(attribute.name),
      // An admin may list the can't-tell value too: it keeps its own button and key only once.
      values: (attribute.values || []).filter((value) => value !== cantTell),
    }));

    const root = host.querySelector(".at-editor");
    const el = {
      root,
      crop: root.querySelector("[data-role=crop]"),
      cropFrame: root.querySelector("[data-role=crop-frame]"),
      category: root.querySelector("[data-role=category]"),
      scene: root.querySelector("[data-role=scene]"),
      sceneImage: root.querySelector("[data-role=scene-image]"),
      sceneBox: root.querySelector("[data-role=scene-box]"),
      rows: root.querySelector("[data-role=rows]"),
      count: root.querySelector("[data-role=count]"),
      notice: root.querySelector("[data-role=notice]"),
    };

    const state = { values: rows.map(() => null), focus: 0, missing: new Set() };

    function allowed(row, value) {
      return value === cantTell || row.values.some((v) => v === value);
    }

    // A draft is restored by attribute name, so a row the taxonomy added or dropped since is only
    // that row, and a value no longer offered is left empty rather than submitted.
    function restore(saved) {
      rows.forEach((row, i) => {
        if (saved && Object.prototype.hasOwnProperty.call(saved, row.name) && allowed(row, saved[row.name])) {
          state.values[i] = saved[row.name];
        }
      });
    }
    if (draft && draft.version === DRAFT_VERSION) {
      restore(draft.values);
      const focusIndex = rows.findIndex((row) => row.name === draft.focus);
      if (focusIndex >= 0) state.focus = focusIndex;
    } else if (initialAnswer && initialAnswer.attributes) {
      restore(initialAnswer.attributes);
    }

    /* ---------- rendering ---------- */

    function renderImages() {
      el.root.dataset.cropState = "loading";
      el.cropFrame.classList.remove("at-broken");
      el.crop.onload = () => { el.root.dataset.cropState = "loaded"; };
      el.crop.onerror = () => {
        el.root.dataset.cropState = "failed";
        el.cropFrame.classList.add("at-broken");
        el.cropFrame.dataset.message = MESSAGES.cropFailed;
      };
      const crop = payload.crop || {};
      el.crop.src = crop.url || "";
      if (!crop.url) el.crop.onerror();

      el.sceneBox.hidden = true;
      const scene = payload.scene;
      if (!scene || !scene.url) {
        el.scene.hidden = true;
        el.root.dataset.sceneState = "none";
        return;
      }
      el.scene.hidden = false;
      el.root.dataset.sceneState = "loading";
      el.sceneImage.onload = () => {
        placeBox(payload.box, scene);
        el.root.dataset.sceneState = "loaded";
      };
      el.sceneImage.onerror = () => {
        el.scene.hidden = true;
        el.root.dataset.sceneState = "failed";
      };
      el.sceneImage.src = scene.url;
    }

    /* The box is in scene pixels; drawn in percent so the thumbnail can be any size. */
    function placeBox(box, scene) {
      const width = el.sceneImage.naturalWidth || scene.width;
      const height = el.sceneImage.naturalHeight || scene.height;
      if (!Array.isArray(box) || box.length !== 4 || !width || !height) return;
      const [x0, y0, x1, y1] = box.map(Number);
      Object.assign(el.sceneBox.style, {
        left: (100 * x0 / width) + "%",
        top: (100 * y0 / height) + "%",
        width: (100 * (x1 - x0) / width) + "%",
        height: (100 * (y1 - y0) / height) + "%",
      });
      el.sceneBox.hidden = false;
    }

    function valueButton(rowIndex, valueIndex, value, hint, extraClass) {
      const button = html("button", "at-value" + (extraClass ? " " + extraClass : ""));
      Object.assign(button, { type: "button", tabIndex: -1 });
      button.dataset.row = String(rowIndex);
      button.dataset.index = String(valueIndex);
      button.dataset.value = String(value);
      if (hint) button.append(html("kbd", "at-key", hint));
      if (rows[rowIndex].name === "color" && value !== cantTell) {
        button.append(html("span", "at-swatch"));
      }
      button.append(html("span", "at-value-text", value === cantTell ? "Can't tell" : valueText(value)));
      button.title = (value === cantTell ? "Can't tell" : valueText(value)) + (hint ? " (" + hint.replace("\u21e7", "Shift+") + ")" : "");
      return button;
    }

    function renderRow(row, index) {
      const node = html("div", "at-row");
      node.dataset.index = String(index);
      node.dataset.name = row.name;
      node.setAttribute("role", "group");
      node.setAttribute("aria-label", row.label);
      node.setAttribute("data-testid", "attribute-row-" + row.name);
      const head = html("div", "at-row-head");
      head.append(html("span", "at-row-label", row.label), html("span", "at-row-chosen"));
      const values = html("div", "at-values");
      row.values.forEach((value, i) => values.append(valueButton(index, i, value, keyHint(i))));
      values.append(valueButton(index, -1, cantTell, CANT_TELL_KEY, "at-cant"));
      node.append(head, values);
      return node;
    }

    function paint() {
      const nodes = el.rows.children;
      let filled = 0;
      for (let i = 0; i < nodes.length; i++) {
        const node = nodes[i];
        const value = state.values[i];
        const chosen = value !== null;
        if (chosen) filled += 1;
        node.classList.toggle("at-focused", i === state.focus);
        node.classList.toggle("at-chosen", chosen);
        node.classList.toggle("at-is-cant", value === cantTell);
        node.classList.toggle("at-missing", state.missing.has(i));
        node.dataset.value = chosen ? String(value) : "";
        node.setAttribute("aria-current", i === state.focus ? "true" : "false");
        node.querySelector(".at-row-chosen").textContent =
          !chosen ? "" : value === cantTell ? "Can't tell" : valueText(value);
        node.querySelectorAll(".at-value").forEach((button) => {
          const index = Number(button.dataset.index);
          const selected = chosen && (index === -1 ? value === cantTell : rows[i].values[index] === value);
          button.classList.toggle("selected", selected);
          button.setAttribute("aria-pressed", selected ? "true" : "false");
        });
      }
      el.count.textContent = rows.length ? filled + " of " + rows.length + " chosen" : "";
      el.root.dataset.filled = String(filled);
      el.root.dataset.focus = rows.length ? rows[state.focus].name : "";
    }

    function scrollToFocus() {
      const node = el.rows.children[state.focus];
      if (node && node.scrollIntoView) node.scrollIntoView({ block: "nearest" });
    }

    /* ---------- changes ---------- */

    function changed() {
      paint();
      onChange();
    }

    function setFocus(index) {
      if (!rows.length) return;
      state.focus = (index + rows.length) % rows.length;
      changed();
      scrollToFocus();
    }

    function setValue(index, value, { advance }) {
      state.values[index] = value;
      state.missing.delete(index);
      state.focus = advance && index < rows.length - 1 ? index + 1 : index;
      changed();
      scrollToFocus();
    }

    function clearValue(index) {
      state.values[index] = null;
      changed();
    }

    // Left/Right walk the row's values and then "Can't tell", around: the one way to every value
    // of a list longer than the keyed twenty.
    function stepValue(index, step) {
      const row = rows[index];
      const ring = row.values.concat([cantTell]);
      const current = state.values[index];
      const at = current === null ? -1 : current === cantTell ? ring.length - 1 : row.values.indexOf(current);
      const next = at === -1 ? (step > 0 ? 0 : ring.length - 1) : (at + step + ring.length) % ring.length;
      setValue(index, ring[next], { advance: false });
    }

    function say(text) {
      el.notice.textContent = text || "";
      el.notice.hidden = !text;
    }

    function answer() {
      if (!categoryKnown) return { ok: false, message: MESSAGES.unknownCategory(payload.category) };
      const missing = state.values.map((value, i) => (value === null ? i : -1)).filter((i) => i >= 0);
      if (missing.length) {
        state.missing = new Set(missing);
        state.focus = missing[0];
        paint();
        scrollToFocus();
        return { ok: false, message: MESSAGES.missing(missing.map((i) => rows[i].label)) };
      }
      const attributes = {};
      rows.forEach((row, i) => { attributes[row.name] = state.values[i]; });
      return { ok: true, answer: { attributes } };
    }

    function onKey(event) {
      if (event.ctrlKey || event.metaKey || event.altKey) return false;
      const key = event.key;
      if (SESSION_KEYS.has(key.toLowerCase()) || !rows.length) return false;
      if (event.code in DIGIT_CODES || /^[0-9]$/.test(key)) {
        const digit = event.code in DIGIT_CODES ? DIGIT_CODES[event.code] : (Number(key) + 9) % 10;
        const index = digit + (event.shiftKey ? DIGITS_PER_BANK : 0);
        const row = rows[state.focus];
        if (index < row.values.length) {
          setValue(state.focus, row.values[index], { advance: true });
          say("");
        } else {
          say(MESSAGES.noSuchValue(row.label, keyHint(index).replace("\u21e7", "Shift+"), row.values.length));
        }
        return true;
      }
      if (key === CANT_TELL_KEY || event.code === "NumpadSubtract") {
        setValue(state.focus, cantTell, { advance: true });
        say("");
        return true;
      }
      if (key === "ArrowDown" || (key === "Tab" && !event.shiftKey)) {
        setFocus(state.focus + 1);
        return true;
      }
      if (key === "ArrowUp" || (key === "Tab" && event.shiftKey)) {
        setFocus(state.focus - 1);
        return true;
      }
      if (key === "ArrowRight" || key === "ArrowLeft") {
        stepValue(state.focus, key === "ArrowRight" ? 1 : -1);
        return true;
      }
      if (key === "Backspace" || key === "Delete") {
        clearValue(state.focus);
        return true;
      }
      return false;
    }

    function onClick(event) {
      const button = event.target.closest(".at-value");
      const rowNode = event.target.closest(".at-row");
      if (!rowNode) return;
      const index = Number(rowNode.dataset.index);
      if (button) {
        const valueIndex = Number(button.dataset.index);
        setValue(index, valueIndex === -1 ? cantTell : rows[index].values[valueIndex], { advance: false });
        say("");
        button.blur();
      } else {
        setFocus(index);
      }
    }

    el.category.textContent = (context.category_names || {})[payload.category] || payload.category || "unknown";
    el.category.title = payload.category || "";
    renderImages();
    el.rows.replaceChildren(...rows.map(renderRow));
    el.rows.addEventListener("click", onClick);
    say(!categoryKnown ? MESSAGES.unknownCategory(payload.category) : rows.length ? "" : MESSAGES.noAttributes);
    paint();
    el.root.dataset.ready = "true";

    return {
      answer,
      onKey,
      draft: () => {
        const values = {};
        rows.forEach((row, i) => { if (state.values[i] !== null) values[row.name] = state.values[i]; });
        return { version: DRAFT_VERSION, values, focus: rows.length ? rows[state.focus].name : null };
      },
      destroy: () => {
        el.rows.removeEventListener("click", onClick);
        el.rows.replaceChildren();
        for (const image of [el.crop, el.sceneImage]) {
          image.onload = null;
          image.onerror = null;
          image.removeAttribute("src");
        }
        say("");
        el.root.dataset.ready = "false";
      },
    };
  }

  window.ShopEditors = window.ShopEditors || {};
  window.ShopEditors[KIND] = {
    create,
    // The sentences the editor shows and the key each place in a list gets, for the tests.
    messages: MESSAGES,
    keyHint,
    cantTellKey: CANT_TELL_KEY,
  };
})();
