// Runs first on every page: lets the stylesheet know scripts are on (drop zones hide their
// plain file inputs then), and offers the one drop-zone helper every page script uses.
document.documentElement.classList.add("js");

window.consent = {
  // Highlight `zone` while something is dragged over it and call onDrop(event) when it is
  // dropped. Drops elsewhere on the page are caught, so a missed drop never opens the photo
  // in the browser instead.
  dropZone: function (zone, onDrop) {
    ["dragenter", "dragover"].forEach(function (type) {
      zone.addEventListener(type, function (e) { e.preventDefault(); zone.classList.add("dragover"); });
    });
    ["dragleave", "dragend"].forEach(function (type) {
      zone.addEventListener(type, function () { zone.classList.remove("dragover"); });
    });
    zone.addEventListener("drop", function (e) {
      e.preventDefault();
      zone.classList.remove("dragover");
      onDrop(e);
    });
    if (!window.consent._pageGuard) {
      window.consent._pageGuard = true;
      document.addEventListener("dragover", function (e) { e.preventDefault(); });
      document.addEventListener("drop", function (e) { e.preventDefault(); });
    }
  },
  csrfToken: function () {
    return document.querySelector('meta[name="csrf-token"]').content;
  },
  // Ask `url` for progress (JSON) after `first` ms, show it with `show(progress)` (fills a
  // <progress> `bar` first) and ask again after `every` ms while `show` returns true; a failed
  // request is tried again after 3 s.
  poll: function (url, bar, show, first, every) {
    var ask = function () {
      fetch(url, { credentials: "same-origin", headers: { "Accept": "application/json", "X-Requested-With": "fetch" } })
        .then(function (r) { return r.json(); })
        .then(function (p) {
          bar.value = p.percent;
          bar.textContent = p.percent + "%";
          if (show(p)) window.setTimeout(ask, every);
        })
        .catch(function () { window.setTimeout(ask, 3000); });
    };
    window.setTimeout(ask, first);
  },
};
