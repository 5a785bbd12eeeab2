// Batch pages. The form: drop a folder (its sub-folders too) or a zip, or choose one; the upload
// shows its own progress, then the job page opens. The job page: polls the progress endpoint
// and fills the bar until the job is finished, then reloads to show the results.
(function () {
  "use strict";
  var token = window.consent.csrfToken();

  // --- job page ---------------------------------------------------------------------
  var panel = document.getElementById("job-progress");
  if (panel && panel.dataset.state !== "done") {
    var bar = document.getElementById("job-bar");
    var percent = document.getElementById("job-percent");
    var count = document.getElementById("job-count");
    window.consent.poll(panel.dataset.progressUrl, bar, function (p) {
      count.textContent = p.percent + "% · " + p.done + " of " + p.total + " checked";
      Object.keys(p.counts || {}).forEach(function (key) {
        var tile = panel.querySelector('[data-count="' + key + '"]');
        if (tile) tile.textContent = p.counts[key];
      });
      if (p.state === "done") window.location.reload();
      return p.state !== "done";
    }, 500, 1000);
  }

  // --- results: select every photo that can be sent for sign-off ---------------------
  var selectAll = document.getElementById("select-all");
  if (selectAll) {
    selectAll.hidden = false;
    selectAll.addEventListener("click", function () {
      document.querySelectorAll('#send-form input[name="check"]').forEach(function (box) { box.checked = true; });
    });
  }

  // --- upload form ------------------------------------------------------------------
  var form = document.getElementById("batch-form");
  if (!form) return;
  var zone = document.getElementById("batch-drop");
  var folder = document.getElementById("folder");
  var zip = document.getElementById("zip");
  var chosen = document.getElementById("batch-chosen");
  var uploadBar = document.getElementById("upload-progress");
  var dropped = [];  // [File, relative path]
  var droppedZip = null;

  function say(text) { chosen.textContent = text; }

  function describe() {
    var n = dropped.length || folder.files.length;
    var z = droppedZip || (zip.files.length ? zip.files[0] : null);
    var parts = [];
    if (n) parts.push(n + " file" + (n === 1 ? "" : "s") + " chosen");
    if (z) parts.push("zip: " + z.name);
    say(parts.length ? parts.join(" and ") + ". Press Start checking." : "");
  }

  folder.addEventListener("change", function () { dropped = []; describe(); });
  // Enter on a focused "Choose" button opens the file chooser, as Space does.
  [folder, zip].forEach(function (chooser) {
    chooser.addEventListener("keydown", function (e) {
      if (e.key === "Enter") { e.preventDefault(); chooser.click(); }
    });
  });
  zip.addEventListener("change", function () { droppedZip = null; describe(); });

  function walk(entry, path) {
    return new Promise(function (resolve) {
      if (entry.isFile) {
        entry.file(function (file) { dropped.push([file, path + file.name]); resolve(); }, function () { resolve(); });
      } else if (entry.isDirectory) {
        var reader = entry.createReader();
        var all = [];
        var read = function () {
          reader.readEntries(function (entries) {
            if (!entries.length) {
              Promise.all(all.map(function (e) { return walk(e, path + entry.name + "/"); })).then(resolve);
            } else {
              all = all.concat(Array.prototype.slice.call(entries));
              read();
            }
          }, function () { resolve(); });
        };
        read();
      } else {
        resolve();
      }
    });
  }

  window.consent.dropZone(zone, function (e) {
    dropped = [];
    droppedZip = null;
    var items = e.dataTransfer.items;
    var entries = [];
    if (items && items.length && items[0].webkitGetAsEntry) {
      for (var i = 0; i < items.length; i++) {
        var entry = items[i].webkitGetAsEntry();
        if (entry) entries.push(entry);
      }
    }
    var files = Array.prototype.slice.call(e.dataTransfer.files);
    if (files.length === 1 && /\.zip$/i.test(files[0].name)) {
      droppedZip = files[0];
      describe();
      return;
    }
    if (entries.length) {
      Promise.all(entries.map(function (en) { return walk(en, ""); })).then(describe);
    } else {
      files.forEach(function (f) { dropped.push([f, f.name]); });
      describe();
    }
  });
  form.addEventListener("submit", function (e) {
    e.preventDefault();
    var data = new FormData();
    // every field of the form but the file choosers (those are added below): the options
    // (title, channel, caption, year groups) and a ticked "Also make copies with faces blurred"
    Array.prototype.forEach.call(form.elements, function (el) {
      if (!el.name || el.disabled || el.type === "file" || el.type === "submit") return;
      if ((el.type === "checkbox" || el.type === "radio") && !el.checked) return;
      data.append(el.name, el.value);
    });
    if (dropped.length) {
      dropped.forEach(function (pair) { data.append("photos", pair[0], pair[1]); });
    } else {
      Array.prototype.forEach.call(folder.files, function (f) {
        data.append("photos", f, f.webkitRelativePath || f.name);
      });
    }
    var z = droppedZip || (zip.files.length ? zip.files[0] : null);
    if (z) data.append("zip", z, z.name);
    if (!data.has("photos") && !data.has("zip")) {
      say("Choose a folder of photos or a zip file first.");
      return;
    }
    var xhr = new XMLHttpRequest();
    xhr.open("POST", form.action);
    xhr.setRequestHeader("X-CSRF-Token", token);
    xhr.setRequestHeader("X-Requested-With", "fetch");
    uploadBar.hidden = false;
    document.getElementById("batch-start").disabled = true;
    say("Sending the photos…");
    xhr.upload.addEventListener("progress", function (ev) {
      if (ev.lengthComputable) uploadBar.value = Math.round(100 * ev.loaded / ev.total);
    });
    xhr.addEventListener("load", function () {
      if (xhr.status < 400) {
        window.location.href = xhr.responseURL;
        return;
      }
      var message = "The upload was refused (error " + xhr.status + ").";
      try { message = JSON.parse(xhr.responseText).error.message; } catch (err) { /* keep the plain message */ }
      say(message);
      uploadBar.hidden = true;
      document.getElementById("batch-start").disabled = false;
    });
    xhr.addEventListener("error", function () {
      say("The server could not be reached. Check the network and try again.");
      uploadBar.hidden = true;
      document.getElementById("batch-start").disabled = false;
    });
    xhr.send(data);
  });
})();
