// Installed in every page by bench/browser.py (page.add_init_script) before the app's own scripts run.
// Records when each benchmark word (t<turn>w<5 digits>) first shows in the DOM: a MutationObserver collects the
// changed nodes and one requestAnimationFrame callback after the mutations scans their text, stamping every new word
// with performance.timeOrigin + performance.now() (wall clock, milliseconds). Also records when Enter went down.
(() => {
  // No \b: an element's textContent runs its children's texts together ("bench turn 5" + "t5w00001").
  const WORD = /t\d+w\d{5}/g;
  const seen = new Map();
  const pending = new Set();
  const enters = [];
  let scheduled = false;
  const now = () => performance.timeOrigin + performance.now();

  function covered(node) {
    for (let up = node.parentNode; up; up = up.parentNode) {
      if (pending.has(up)) return true;
    }
    return false;
  }

  function scan() {
    scheduled = false;
    const at = now();
    for (const node of pending) {
      if (covered(node)) continue;
      const text = node.nodeType === Node.TEXT_NODE ? node.nodeValue : node.textContent;
      if (!text) continue;
      for (const match of text.matchAll(WORD)) {
        if (!seen.has(match[0])) seen.set(match[0], at);
      }
    }
    pending.clear();
  }

  const observer = new MutationObserver((records) => {
    for (const record of records) {
      pending.add(record.target);
      for (const node of record.addedNodes) pending.add(node);
    }
    if (!scheduled) {
      scheduled = true;
      requestAnimationFrame(scan);
    }
  });
  observer.observe(document, { childList: true, subtree: true, characterData: true });
  document.addEventListener("keydown", (event) => { if (event.key === "Enter") enters.push(now()); }, true);

  window.__bench = {
    now,
    has: (word) => seen.has(word),
    enters: () => enters.slice(),
    words: (prefix) => Object.fromEntries([...seen].filter(([word]) => word.startsWith(prefix))),
  };
})();
