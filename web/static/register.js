// Register pages: a consent cell is saved only by its Save button, after confirming what will be
// recorded, and can be undone for a short while; drop zones put dropped files into their form
// (enrolment photos are sent at once).
(function () {
  "use strict";
  var token = window.consent.csrfToken();

  // Consent cells: choosing in the list changes nothing by itself (arrow keys move through the
  // list safely). Save asks to confirm what will be recorded, then the cell offers Undo for a
  // short while; both are recorded in the audit log.
  function post(url, data) {
    return fetch(url, {
      method: "POST", body: data, credentials: "same-origin",
      headers: { "X-CSRF-Token": token, "X-Requested-With": "fetch", "Accept": "application/json" },
    }).then(function (r) {
      return r.json().then(function (body) {
        if (!r.ok) throw new Error(body.error ? body.error.message : "Not saved.");
        return body;
      });
    });
  }

  // A date input's value (yyyy-mm-dd) as every page shows dates: "31 Jul 2027" (web/words.py).
  var MONTHS = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];
  function ukDate(iso) {
    var p = iso.split("-");
    return p.length === 3 ? parseInt(p[2], 10) + " " + MONTHS[parseInt(p[1], 10) - 1] + " " + p[0] : iso;
  }

  function show(select, body) {
    select.dataset.current = body.status;
    select.dataset.currentWords = body.words;
    select.className = select.closest("form").classList.contains("flagged") ? "st-flagged" : "st-" + body.status;
    var blank = select.querySelector('option[value=""]');
    if (["granted", "refused", "withdrawn"].indexOf(body.status) >= 0) {
      select.value = body.status;
    } else if (blank) {
      blank.textContent = body.words;
      select.value = "";
    }
  }

  // Bind every consent cell under `root` (the list's search script calls it again for the rows
  // it fetches).
  function bindCells(root) {
    root.querySelectorAll("form.cell-form").forEach(bindCell);
  }
  window.consent.bindCells = bindCells;

  function bindCell(form) {
    if (form.dataset.bound) return;
    form.dataset.bound = "1";
    var select = form.querySelector("select");
    var until = form.querySelector("input.until");
    var note = form.querySelector(".cell-status");
    var cell = form.parentElement;
    form.addEventListener("submit", function (e) {
      e.preventDefault();
      var words = select.options[select.selectedIndex].textContent.trim();
      var changedUntil = until && until.value !== (until.defaultValue || "");
      if (!select.value || (select.value === select.dataset.current && !changedUntil)) {
        note.textContent = "Nothing to save: choose another answer first.";
        return;
      }
      var text = "Record " + form.dataset.channelLabel + " consent for " + form.dataset.person + ": “" + words + "”" +
        (until && until.value && select.value === "granted" ? " until " + ukDate(until.value) : "") +
        "?\nNow: “" + select.dataset.currentWords + "”. You can undo it for a short while.";
      if (form.classList.contains("flagged")) {
        text += "\nWhatever the form says, nothing of " + form.dataset.person + " is published: they are flagged never publish.";
      }
      if (form.dataset.channel === "biometric" && select.value !== "granted") {
        text += "\nThis deletes their face measurements at once; it cannot be undone.";
      }
      if (!window.confirm(text)) {
        note.textContent = "Not saved.";
        return;
      }
      cell.classList.remove("saved", "failed");
      post(form.action, new FormData(form)).then(function (body) {
        show(select, body);
        if (until) until.defaultValue = until.value;
        cell.classList.add("saved");
        note.textContent = "Saved: " + body.words + ". ";
        announce("Saved: " + body.words);
        if (form.dataset.channel === "biometric" && body.status !== "granted") return;
        var undo = document.createElement("button");
        undo.type = "button";
        undo.className = "button small undo";
        undo.textContent = "Undo";
        note.appendChild(undo);
        var timer = window.setTimeout(function () { undo.remove(); }, (body.undo_seconds || 60) * 1000);
        undo.addEventListener("click", function () {
          window.clearTimeout(timer);
          var data = new FormData();
          data.append("channel", body.channel);
          data.append("record", body.record);
          post(form.dataset.undoUrl, data).then(function (back) {
            show(select, back);
            note.textContent = "Undone: back to " + back.words + ".";
            announce("Undone: back to " + back.words);
            select.focus();
          }).catch(function (err) {
            note.textContent = err.message;
            announce(err.message);
          });
        });
      }).catch(function (err) {
        cell.classList.add("failed");
        var current = select.dataset.current;
        select.value = ["granted", "refused", "withdrawn"].indexOf(current) >= 0 ? current : "";
        note.textContent = err.message || "Not saved.";
        announce(err.message || "Not saved.");
      });
    });
  }
  bindCells(document);

  var live = document.createElement("p");
  live.className = "visually-hidden";
  live.setAttribute("role", "status");
  document.body.appendChild(live);
  function announce(text) { live.textContent = text; }

  document.querySelectorAll("form .dropzone").forEach(function (zone) {
    var form = zone.closest("form");
    var input = zone.querySelector("input[type=file]");
    var submitNow = form.classList.contains("drop-submit");
    input.addEventListener("keydown", function (e) {
      if (e.key === "Enter") { e.preventDefault(); input.click(); }
    });
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
