// A clip's page while its blurred copy is made: polls how far it has got (as the batch page
// polls its job) and fills the bar and the line; reloads once it is made, failed or stopped.
(function () {
  "use strict";
  document.querySelectorAll(".blur-progress[data-progress-url]").forEach(function (panel) {
    var bar = panel.querySelector("progress");
    var line = panel.querySelector(".blur-words");
    window.consent.poll(panel.dataset.progressUrl, bar, function (p) {
      line.textContent = p.words;
      if (!p.running) window.location.reload();
      return p.running;
    }, 1000, 1500);
  });
})();
