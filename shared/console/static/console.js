// jetmail console: confirmations, "tick every row", and live figures.
"use strict";
document.addEventListener("click", (e) => {
  const b = e.target.closest("button[data-confirm]");
  if (b && !window.confirm(b.dataset.confirm)) e.preventDefault();
});
document.addEventListener("change", (e) => {
  const all = e.target.closest("input[data-check-all]");
  if (!all) return;
  all.closest("form").querySelectorAll('input[type=checkbox][name=id]').forEach((c) => { c.checked = all.checked; });
});
// Sections marked data-live are refreshed every 5 s from the page itself,
// while the tab is visible and no form field in them has the focus.
(function live() {
  const sections = document.querySelectorAll("[data-live][id]");
  if (!sections.length) return;
  setInterval(async () => {
    if (document.hidden) return;
    const busy = document.activeElement && document.activeElement.closest("[data-live]");
    if (busy) return;
    try {
      const r = await fetch(location.href, { credentials: "same-origin", headers: { "X-Live": "1" } });
      if (!r.ok || r.redirected) return;
      const doc = new DOMParser().parseFromString(await r.text(), "text/html");
      sections.forEach((s) => {
        const fresh = doc.getElementById(s.id);
        if (fresh) s.innerHTML = fresh.innerHTML;
      });
    } catch (_) { /* the next tick tries again */ }
  }, 5000);
})();
