/* The new-training-job form: offer only the parents and exports that fit the chosen kind (each
 * option carries data-kind); a parent of the other kind is never left selected. */
(function () {
  "use strict";

  const kind = document.getElementById("id_kind");
  const parent = document.getElementById("id_parent");
  if (!kind || !parent) return;

  function apply() {
    for (const option of parent.options) {
      option.hidden = option.disabled = option.dataset.kind !== kind.value;
    }
    if (parent.selectedOptions.length === 0 || parent.selectedOptions[0].disabled) {
      const first = Array.from(parent.options).find((option) => !option.disabled);
      parent.value = first ? first.value : "";
    }
    for (const box of document.querySelectorAll("input[name=exports][data-kind]")) {
      const fits = box.dataset.kind === kind.value;
      box.closest("label, div").hidden = !fits;
      if (!fits) box.checked = false;
    }
  }

  kind.addEventListener("change", apply);
  apply();
})();
