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
};
