// Register pages: a consent cell saves itself when changed (a real POST with the CSRF token);
// drop zones put dropped files into their form (enrolment photos are sent at once).
(function () {
  "use strict";
  var token = window.consent.csrfToken();

  document.querySelectorAll("form.cell-form").forEach(function (form) {
    var select = form.querySelector("select");
    form.querySelector("button.save").hidden = true;
    select.addEventListener("change", function () {
      if (!select.value) return;
      var cell = form.parentElement;
      cell.classList.remove("saved", "failed");
      fetch(form.action, {
        method: "POST", body: new FormData(form), credentials: "same-origin",
        headers: { "X-CSRF-Token": token, "X-Requested-With": "fetch", "Accept": "application/json" },
      }).then(function (r) {
        return r.json().then(function (body) {
          if (!r.ok) throw new Error(body.error ? body.error.message : "Not saved.");
          select.dataset.current = body.status;
          select.className = "st-" + body.status;
          cell.classList.add("saved");
          announce("Saved: " + body.words);
        });
      }).catch(function (err) {
        cell.classList.add("failed");
        var current = select.dataset.current;
        select.value = ["granted", "refused", "withdrawn"].indexOf(current) >= 0 ? current : "";
        announce(err.message || "Not saved.");
        window.alert(err.message || "Not saved.");
      });
    });
  });

  var live = document.createElement("p");
  live.className = "visually-hidden";
  live.setAttribute("role", "status");
  document.body.appendChild(live);
  function announce(text) { live.textContent = text; }

  document.querySelectorAll("form .dropzone").forEach(function (zone) {
    var form = zone.closest("form");
    var input = zone.querySelector("input[type=file]");
    var submitNow = form.classList.contains("drop-submit");
    window.consent.dropZone(zone, function (e) {
      input.files = e.dataTransfer.files;
      input.dispatchEvent(new Event("change"));
    });
    input.addEventListener("change", function () {
      var names = Array.prototype.map.call(input.files, function (f) { return f.name; });
      zone.querySelector(".big-text").textContent = names.length ? names.join(", ") : zone.querySelector(".big-text").textContent;
      if (submitNow && input.files.length) form.submit();
    });
  });
})();
