// Keyboard focus survives a card's htmx swap: the control that sent the request (a switch,
// a button) is focused again in the new card, or, when it is gone, the card's first control.
// Without this, a switch disabled while its save is in flight drops focus to the page body.
(function () {
  let trigger = null;
  let card = null;
  document.body.addEventListener("htmx:beforeRequest", (event) => {
    const elt = event.detail.elt;
    const entry = elt.closest && elt.closest(".entry");
    if (!entry) return;
    trigger = elt.id || null;
    card = entry.id;
  });
  document.body.addEventListener("htmx:afterSettle", () => {
    if (!card) return;
    const target =
      (trigger && document.getElementById(trigger)) ||
      document.querySelector(
        `#${CSS.escape(card)} input:not([type=hidden]):not([disabled]), ` +
          `#${CSS.escape(card)} select, #${CSS.escape(card)} button:not([disabled])`
      );
    trigger = card = null;
    if (target && document.activeElement !== target) target.focus();
  });
})();
