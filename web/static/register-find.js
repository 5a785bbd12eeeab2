// The register list: find a person as you type, and one Tab stop per person.
//
// Without this script the page still works: the search box sends ?q= to the server, and every
// consent cell is its own Tab stop. With it:
// - typing filters the list at once by the words each row carries in data-find (the server's
//   consent.register.listing.search_text: names, MIS id, class, year, folded); when the server
//   listed only the first part of the register, the server is asked too (the same rule);
// - Tab goes from person to person (their name's link); → goes into that person's consent
//   cells, where ←/→ go from channel to channel, Tab also reaches each Save, and Esc goes back
//   to the name.
(function () {
  "use strict";
  var box = document.getElementById("q");
  var count = document.getElementById("people-count");
  if (!box || !count) return;

  // As consent.register.records.name_key folds: no accents, no apostrophes, lower case.
  function fold(text) {
    return text.normalize("NFKD").replace(/[\u0300-\u036f]/g, "").toLowerCase()
      .replace(/['\u2019\u2018`]/g, "").replace(/[^\p{L}\p{N}_]+/gu, " ").trim();
  }

  function plural(n) { return n + (n === 1 ? " person" : " people"); }

  function filter() {
    var table = document.getElementById("people");
    var nobody = document.getElementById("nobody-found");
    if (!table) return;
    var words = fold(box.value).split(" ").filter(Boolean);
    var rows = table.querySelectorAll("tr.person");
    var shown = 0;
    rows.forEach(function (row) {
      var text = row.dataset.find;
      var hit = words.every(function (w) { return text.indexOf(w) >= 0; });
      row.hidden = !hit;
      if (hit) shown += 1;
    });
    if (nobody) nobody.hidden = shown > 0;
    count.textContent = words.length
      ? shown + " of " + plural(rows.length) + " listed match “" + box.value.trim() + "”."
      : plural(parseInt(count.dataset.total, 10)) + (table.dataset.truncated ? "; showing the first " + rows.length + " (narrow the search)." : ".");
  }

  // Keep the address in step, so reloading or going back shows the same search.
  function remember() {
    var url = new URL(window.location.href);
    if (box.value.trim()) url.searchParams.set("q", box.value.trim());
    else url.searchParams.delete("q");
    window.history.replaceState(null, "", url);
  }

  // When the server listed only part of the register, ask it for this search's list.
  var pending = null, asked = 0;
  function askServer() {
    var table = document.getElementById("people");
    if (!table || !table.dataset.truncated && !box.dataset.askedServer) return;
    window.clearTimeout(pending);
    pending = window.setTimeout(function () {
      box.dataset.askedServer = "1";
      var mine = ++asked;
      fetch(window.location.href, { credentials: "same-origin" }).then(function (r) {
        return r.ok ? r.text() : null;
      }).then(function (html) {
        if (!html || mine !== asked) return;  // a later search is on its way
        var doc = new DOMParser().parseFromString(html, "text/html");
        var region = document.getElementById("people-region");
        var fresh = doc.getElementById("people-region");
        if (!region || !fresh) return;
        region.replaceWith(document.importNode(fresh, true));
        count.dataset.total = doc.getElementById("people-count").dataset.total;
        if (window.consent.bindCells) window.consent.bindCells(document.getElementById("people-region"));
        oneStopPerPerson();
        filter();
      });
    }, 350);
  }

  box.addEventListener("input", function () {
    filter();
    remember();
    askServer();
  });

  // --- one Tab stop per person -----------------------------------------------------------
  function controls(row) {
    return Array.prototype.slice.call(
      row.querySelectorAll("td select, td input:not([type=hidden]), td button"));
  }
  function setStops(row, on) {
    controls(row).forEach(function (c) { c.tabIndex = on ? 0 : -1; });
  }
  function oneStopPerPerson() {
    document.querySelectorAll("#people tr.person").forEach(function (row) {
      setStops(row, false);
      if (row.dataset.keys) return;
      row.dataset.keys = "1";
      var link = row.querySelector("a.person-link");
      link.setAttribute("aria-keyshortcuts", "ArrowRight");
      row.addEventListener("focusout", function (e) {
        if (!row.contains(e.relatedTarget)) setStops(row, false);
      });
      row.addEventListener("keydown", function (e) { keys(e, row, link); });
    });
  }

  function visibleLinks() {
    return Array.prototype.filter.call(document.querySelectorAll("#people tr.person"), function (r) {
      return !r.hidden;
    }).map(function (r) { return r.querySelector("a.person-link"); });
  }

  function keys(e, row, link) {
    if (e.altKey || e.ctrlKey || e.metaKey) return;
    var list = controls(row);
    var at = list.indexOf(e.target);
    if (e.target === link) {
      if (e.key === "ArrowRight" && list.length) {
        e.preventDefault();
        setStops(row, true);
        list[0].focus();
      } else if (e.key === "ArrowDown" || e.key === "ArrowUp") {
        var links = visibleLinks();
        var next = links[links.indexOf(link) + (e.key === "ArrowDown" ? 1 : -1)];
        if (next) { e.preventDefault(); next.focus(); }
      }
      return;
    }
    if (at < 0) return;
    if (e.key === "Escape") {
      e.preventDefault();
      setStops(row, false);
      link.focus();
    } else if ((e.key === "ArrowRight" || e.key === "ArrowLeft") && e.target.type !== "date") {
      // ←/→ go from channel to channel (each cell's answer; on a closed list they would change
      // it); Tab also reaches each cell's Save
      e.preventDefault();
      var answers = list.filter(function (c) { return c.tagName === "SELECT"; });
      var here = answers.indexOf(e.target.closest("td").querySelector("select"));
      var to = here + (e.key === "ArrowRight" ? 1 : -1);
      if (to < 0) { setStops(row, false); link.focus(); } else if (to < answers.length) answers[to].focus();
    }
  }

  oneStopPerPerson();
  if (box.value) filter();
})();
