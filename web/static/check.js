// Check page: drop or choose photos; each one is sent on its own and its result card appears
// as soon as it is checked. Without scripts the form posts all the photos at once instead.
(function () {
  "use strict";
  var form = document.getElementById("check-form");
  if (!form) return;
  var zone = document.getElementById("dropzone");
  var input = document.getElementById("photo");
  var results = document.getElementById("results");
  var status = document.getElementById("status");
  var token = window.consent.csrfToken();
  var maxBytes = parseInt(form.dataset.maxBytes || "0", 10);
  var queue = [];
  var busy = false;

  function card(name, text, cls) {
    var el = document.createElement("article");
    el.className = "result pending" + (cls ? " " + cls : "");
    var h = document.createElement("h2");
    h.textContent = name;
    var p = document.createElement("p");
    p.textContent = text;
    el.appendChild(h);
    el.appendChild(p);
    return el;
  }

  function showError(el, name, message) {
    var err = card(name, message, "failed");
    err.setAttribute("role", "alert");
    err.querySelector("p").className = "verdict-big v-error";
    el.replaceWith(err);
    status.textContent = name + ": " + message;
  }

  function next() {
    if (busy || !queue.length) return;
    busy = true;
    var item = queue.shift();
    var data = new FormData();
    data.append("photo", item.file, item.file.name);
    data.append("channel", form.elements.channel.value);
    data.append("caption", form.elements.caption.value);
    data.append("groups", form.elements.groups.value);
    fetch(form.dataset.uploadUrl, {
      method: "POST",
      body: data,
      credentials: "same-origin",
      headers: { "X-CSRF-Token": token, "X-Requested-With": "fetch", "Accept": "text/html" },
    }).then(function (response) {
      if (response.ok) {
        return response.text().then(function (html) {
          var t = document.createElement("template");
          t.innerHTML = html.trim();
          var done = t.content.firstElementChild;
          item.el.replaceWith(done);
          var verdict = done.querySelector(".verdict-big");
          status.textContent = item.file.name + ": " + (verdict ? verdict.textContent : "checked");
        });
      }
      return response.json().then(function (body) {
        showError(item.el, item.file.name, body.error ? body.error.message : "The " + kind(item.file) + " could not be checked.");
      }, function () {
        showError(item.el, item.file.name, response.status === 413
          ? "The " + kind(item.file) + " is too large to send."
          : "The " + kind(item.file) + " could not be checked (error " + response.status + ").");
      });
    }).catch(function () {
      showError(item.el, item.file.name, "The server could not be reached. Check the network and try again.");
    }).then(function () {
      busy = false;
      next();
    });
  }

  // "video" for the clips the check takes (by type or ending), else "photo": the words of errors
  function kind(file) {
    return /^video\//.test(file.type || "") || /\.(mp4|mov|m4v|webm)$/i.test(file.name) ? "video" : "photo";
  }

  function add(files) {
    Array.prototype.forEach.call(files, function (file) {
      var el;
      if (maxBytes && file.size > maxBytes) {
        el = card(file.name, "", "");
        results.insertBefore(el, results.firstChild);
        showError(el, file.name, kind(file) === "video"
          ? "This video is too large to send here (the limit is " + Math.round(maxBytes / 1048576) +
            " MB). Check it in a batch job, which takes larger clips, or send a shorter clip."
          : "This photo is too large to send (the limit is " + Math.round(maxBytes / 1048576) +
            " MB). Send a smaller copy.");
        return;
      }
      el = card(file.name, "Checking…");
      var spin = document.createElement("span");
      spin.className = "spinner";
      spin.setAttribute("aria-hidden", "true");
      el.querySelector("p").prepend(spin, " ");
      results.insertBefore(el, results.firstChild);
      queue.push({ file: file, el: el });
    });
    status.textContent = "Checking " + files.length + " photo" + (files.length === 1 ? "" : "s") + "…";
    next();
  }

  // "Send for sign-off" on a result card: sent in the background and only that card is
  // replaced, so the other results stay on the page.
  results.addEventListener("submit", function (e) {
    var sendForm = e.target.closest("form.send-review");
    if (!sendForm) return;
    e.preventDefault();
    var button = sendForm.querySelector("button[type=submit]");
    button.disabled = true;
    fetch(sendForm.action, {
      method: "POST", body: new FormData(sendForm), credentials: "same-origin",
      headers: { "X-CSRF-Token": token, "X-Requested-With": "fetch", "Accept": "text/html" },
    }).then(function (response) {
      if (!response.ok) {
        return response.json().then(function (body) { throw new Error(body.error.message); });
      }
      return response.text().then(function (html) {
        var t = document.createElement("template");
        t.innerHTML = html.trim();
        var updated = t.content.firstElementChild;
        sendForm.closest("article.result").replaceWith(updated);
        status.textContent = "Sent for sign-off.";
        var heading = updated.querySelector(".verdict-big");
        if (heading) { heading.setAttribute("tabindex", "-1"); heading.focus(); }
      });
    }).catch(function (err) {
      button.disabled = false;
      status.textContent = err.message || "Not sent. Try again.";
      window.alert(status.textContent);
    });
  });

  // Enter on the focused "Choose photos" opens the file chooser, as Space does.
  input.addEventListener("keydown", function (e) {
    if (e.key === "Enter") { e.preventDefault(); input.click(); }
  });

  window.consent.dropZone(zone, function (e) {
    if (e.dataTransfer && e.dataTransfer.files.length) add(e.dataTransfer.files);
  });
  input.addEventListener("change", function () {
    if (input.files.length) add(input.files);
    input.value = "";
  });
  form.addEventListener("submit", function (e) {
    e.preventDefault();
    if (input.files.length) add(input.files);
  });
})();
