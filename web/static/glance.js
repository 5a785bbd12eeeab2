// The register at a glance: a Print button (the page prints on one sheet: see style.css @media print).
(function () {
  "use strict";
  var button = document.getElementById("print-page");
  if (button) button.addEventListener("click", function () { window.print(); });
})();
