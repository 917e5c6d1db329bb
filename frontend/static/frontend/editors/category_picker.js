/* The type-to-search category picker the category-bearing editors share (editors/boxes.js beside the
 * selected box, editors/matching.js in the side panel). It knows nothing of boxes or answers: it
 * lists the categories that match what was typed and reports the one picked.
 *
 * Markup stays in each editor's template (the bx-picker* classes of editors/boxes.css): `root` (hidden
 * while closed), an <input> and a <ul>; a title element is optional. While open, `host` (the editor's
 * root) carries data-picker="open", else "closed".
 *
 *   const picker = ShopCategoryPicker.create({ root, input, list, host, title, categories, onPick(slug),
 *     onClose(), rank(category, text), preferred: [slug], optionTestId: "category-option-",
 *     decorate(option, category), tabMoves });
 *   picker.open({ title, selected, place(root) })  // place: position it before the input takes the focus
 *   picker.close(); picker.isOpen(); picker.key(event); picker.destroy();
 *
 * The list is ordered by rank (0 best, -1 left out), then by `preferred` (the quick categories), then
 * by the taxonomy's order; with nothing typed it is every category, the `selected` one highlighted.
 * While the search has focus it takes every key (none reaches the session): Up/Down (and Tab, unless
 * tabMoves is false) walk the list, Enter picks, Esc cancels; a click on a row picks it.
 */
(function () {
  "use strict";

  function words(text) {
    return String(text || "").toLowerCase().split(/[^a-z0-9]+/).filter(Boolean);
  }

  /* How well `category` matches every word typed: 0 is best, -1 no match. The whole name starting
   * with the first word beats a word of the name starting with it, which beats the name merely
   * containing it, which beats the coarse category's name. */
  function rankByWords(category, text) {
    const typed = words(text);
    const name = String(category.name || category.slug).toLowerCase();
    const own = words(name).concat(words(category.slug));
    const coarse = words(category.coarse);
    let score = 0;
    for (let i = 0; i < typed.length; i++) {
      const token = typed[i];
      if (i === 0 && name.startsWith(token)) continue;
      if (own.some((w) => w.startsWith(token))) score += 1;
      else if (name.includes(token)) score += 2;
      else if (coarse.some((w) => w.startsWith(token))) score += 3;
      else return -1;
    }
    return score;
  }

  function element(tag, className, text) {
    const node = document.createElement(tag);
    node.className = className;
    if (text !== undefined) node.textContent = text;
    return node;
  }

  function create({ root, input, list, host, title, categories, onPick, onClose, rank, preferred, optionTestId,
    decorate, tabMoves }) {
    const all = Array.isArray(categories) ? categories : [];
    const rankOf = typeof rank === "function" ? rank : rankByWords;
    const preferredAt = new Map((preferred || []).map((slug, i) => [slug, i]));
    const testId = optionTestId || "category-option-";
    const state = { open: false, matches: [], active: 0, selected: "" };
    const listeners = new AbortController();
    const signal = listeners.signal;

    function filter() {
      if (!state.open) return;
      const text = input.value;
      const scored = [];
      all.forEach((category, order) => {
        const score = rankOf(category, text);
        if (score < 0) return;
        const quick = preferredAt.has(category.slug) ? preferredAt.get(category.slug) : Infinity;
        scored.push({ category, score, quick, order });
      });
      scored.sort((a, b) => a.score - b.score || a.quick - b.quick || a.order - b.order);
      state.matches = scored.map((s) => s.category);
      const selectedAt = state.matches.findIndex((c) => c.slug === state.selected);
      state.active = !words(text).length && selectedAt >= 0 ? selectedAt : 0;
      paint();
    }

    function paint() {
      if (!state.matches.length) {
        list.replaceChildren(element("li", "bx-picker-none muted small", "No category matches."));
        return;
      }
      list.replaceChildren(...state.matches.map((category, i) => {
        const option = element("li", "bx-picker-option" + (i === state.active ? " active" : ""));
        option.setAttribute("role", "option");
        option.setAttribute("aria-selected", String(i === state.active));
        option.dataset.slug = category.slug;
        option.setAttribute("data-testid", testId + category.slug);
        option.append(element("span", "bx-option-name", category.name || category.slug),
          element("span", "bx-option-coarse muted small", category.coarse || ""));
        if (decorate) decorate(option, category);
        return option;
      }));
      const active = list.children[state.active];
      if (active && active.scrollIntoView) active.scrollIntoView({ block: "nearest" });
    }

    function open({ title: heading, selected, place } = {}) {
      state.open = true;
      state.selected = selected || "";
      if (title && heading !== undefined) title.textContent = heading;
      input.value = "";
      root.hidden = false;
      if (host) host.dataset.picker = "open";
      filter();
      if (place) place(root);
      input.focus();
    }

    function close() {
      const wasOpen = state.open;
      state.open = false;
      root.hidden = true;
      if (host) host.dataset.picker = "closed";
      if (!wasOpen) return;
      if (document.activeElement === input) input.blur();
      if (onClose) onClose();
    }

    function pick(slug) {
      if (!state.open) return;
      close();
      if (onPick) onPick(slug);
    }

    /* A key while the search has focus: true while open, as every key is then the picker's; the
     * browser's default is stopped only for the keys that walk, pick or cancel, so typing still types. */
    function key(event) {
      if (!state.open) return false;
      const count = state.matches.length;
      const tab = tabMoves === false ? 0 : event.shiftKey ? -1 : 1;
      const step = { ArrowDown: 1, ArrowUp: -1, Tab: tab }[event.key];
      if (step !== undefined || event.key === "Enter" || event.key === "Escape") event.preventDefault();
      if (step) {
        if (count) state.active = (state.active + step + count) % count;
        paint();
      } else if (event.key === "Enter") {
        if (count) pick(state.matches[state.active].slug);
      } else if (event.key === "Escape") {
        close();
      }
      return true;
    }

    input.addEventListener("input", filter, { signal });
    input.addEventListener("keydown", (event) => {
      key(event);
      // Typing "k" or Enter in the search must never reach the session's keys.
      event.stopPropagation();
    }, { signal });
    input.addEventListener("blur", close, { signal });
    // The input keeps the focus through a click on a row, or its blur would close the list first.
    list.addEventListener("mousedown", (event) => event.preventDefault(), { signal });
    list.addEventListener("click", (event) => {
      const option = event.target.closest("[data-slug]");
      if (option) pick(option.dataset.slug);
    }, { signal });
    close();

    return {
      open,
      close,
      isOpen: () => state.open,
      key,
      destroy() {
        close();
        listeners.abort();
      },
    };
  }

  window.ShopCategoryPicker = { create, rankByWords, words };
})();
