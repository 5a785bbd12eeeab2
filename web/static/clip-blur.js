// A clip's page while its blurred copy is made: polls how far it has got (as the batch page
// polls its job) and fills the bar and the line; reloads once it is made, failed or stopped.
(function () {
  "use strict";
  document.querySelectorAll(".blur-progress[data-progress-url]").forEach(function (panel) {
    var bar = panel.querySelector("progress");
    var line = panel.querySelector(".blur-words");
    var poll = function () {
      fetch(panel.dataset.progressUrl, { credentials: "same-origin", headers: { "Accept": "application/json", "X-Requested-With": "fetch" } })
        .then(function (r) { return r.json(); })
        .then(function (p) {
          bar.value = p.percent;
          bar.textContent = p.percent + "%";
          line.textContent = p.words;
          if (p.running) {
            window.setTimeout(poll, 1500);
          } else {
            window.location.reload();
          }
        })
        .catch(function () { window.setTimeout(poll, 3000); });
    };
    window.setTimeout(poll, 1000);
  });
})();
