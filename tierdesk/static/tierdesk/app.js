/* Tierdesk: small helpers on top of server-rendered pages. Every page works without them.
 *
 * - countdowns to SLA deadlines ([data-due]), refreshed every 30 seconds;
 * - attachments by drag and drop or by pasting a screenshot ([data-dropzone]);
 * - canned responses inserted at the cursor ([data-canned]);
 * - forms that update the page without a full reload (form[data-inline]);
 * - keyboard shortcuts (press ? for the list) and bulk selection in queues.
 *
 * Everything is delegated from `document`, so content swapped in by an inline
 * update needs no re-binding. Words come from data-i18n-* attributes on <body>,
 * written by the server in the reader's language.
 */
(function () {
  "use strict";

  var body = document.body;

  function say(key, vars) {
    var text = body.getAttribute("data-i18n-" + key) || key;
    Object.keys(vars || {}).forEach(function (name) {
      text = text.replace("{" + name + "}", vars[name]);
    });
    return text;
  }

  /* ---- countdowns ------------------------------------------------------ */

  function span(ms) {
    var minutes = Math.round(Math.abs(ms) / 60000);
    var days = Math.floor(minutes / 1440);
    var hours = Math.floor((minutes % 1440) / 60);
    var rest = minutes % 60;
    if (days) return days + "d " + hours + "h";
    if (hours) return hours + "h " + (rest < 10 ? "0" : "") + rest + "m";
    return rest + "m";
  }

  function tick() {
    var now = Date.now();
    document.querySelectorAll("[data-due]").forEach(function (el) {
      var due = Date.parse(el.getAttribute("data-due"));
      if (isNaN(due)) return;
      var ms = due - now;
      el.textContent = ms >= 0 ? say("left", { t: span(ms) }) : say("overdue", { t: span(ms) });
      el.classList.toggle("overdue", ms < 0);
      el.classList.toggle("soon", ms >= 0 && ms < 3600000);
    });
  }
  tick();
  setInterval(tick, 30000);

  /* ---- attachments: choose, drop or paste -------------------------------- */

  var chosen = new WeakMap(); // input -> the files kept so far

  function keep(input, files) {
    var list = (chosen.get(input) || []).concat(files);
    chosen.set(input, list);
    sync(input);
  }

  function sync(input) {
    var list = chosen.get(input) || [];
    var transfer = new DataTransfer();
    list.forEach(function (f) { transfer.items.add(f); });
    input.files = transfer.files;
    var zone = input.closest("[data-dropzone]");
    var out = zone && zone.querySelector("[data-files]");
    if (!out) return;
    out.textContent = "";
    list.forEach(function (file, index) {
      var item = document.createElement("li");
      if (file.type.indexOf("image/") === 0) {
        var img = document.createElement("img");
        img.src = URL.createObjectURL(file);
        img.alt = "";
        item.appendChild(img);
      }
      var name = document.createElement("span");
      name.textContent = file.name + " (" + Math.max(1, Math.round(file.size / 1024)) + " KB)";
      item.appendChild(name);
      var remove = document.createElement("button");
      remove.type = "button";
      remove.className = "link";
      remove.textContent = say("remove");
      remove.setAttribute("aria-label", say("remove-file", { name: file.name }));
      remove.addEventListener("click", function () {
        var now = (chosen.get(input) || []).slice();
        now.splice(index, 1);
        chosen.set(input, now);
        sync(input);
      });
      item.appendChild(remove);
      out.appendChild(item);
    });
  }

  function zoneInput(el) {
    var zone = el && el.closest && el.closest("[data-dropzone]");
    return zone ? zone.querySelector("input[type=file]") : null;
  }

  document.addEventListener("change", function (e) {
    var input = e.target;
    if (!input.matches || !input.matches("[data-dropzone] input[type=file]")) return;
    // The browser replaced the selection with the new pick: add it to what was kept.
    var picked = Array.prototype.slice.call(input.files);
    var before = chosen.get(input) || [];
    chosen.set(input, before.concat(picked.filter(function (f) { return before.indexOf(f) < 0; })));
    sync(input);
  });

  document.addEventListener("dragover", function (e) {
    var input = zoneInput(e.target);
    if (!input) return;
    e.preventDefault();
    input.closest("[data-dropzone]").classList.add("over");
  });
  document.addEventListener("dragleave", function (e) {
    var input = zoneInput(e.target);
    if (input) input.closest("[data-dropzone]").classList.remove("over");
  });
  document.addEventListener("drop", function (e) {
    var input = zoneInput(e.target);
    if (!input) return;
    e.preventDefault();
    input.closest("[data-dropzone]").classList.remove("over");
    keep(input, Array.prototype.slice.call(e.dataTransfer.files));
  });

  // A screenshot pasted anywhere in a form with a drop zone is attached to it.
  document.addEventListener("paste", function (e) {
    var form = e.target.closest && e.target.closest("form");
    var input = form && form.querySelector("[data-dropzone] input[type=file]");
    if (!input || !e.clipboardData) return;
    var stamp = new Date().toISOString().slice(0, 19).replace(/[-:T]/g, "");
    var files = [];
    Array.prototype.forEach.call(e.clipboardData.items, function (item, n) {
      if (item.kind !== "file") return;
      var file = item.getAsFile();
      if (!file) return;
      var ext = (file.type.split("/")[1] || "png").replace("jpeg", "jpg");
      files.push(new File([file], "screenshot-" + stamp + "-" + (n + 1) + "." + ext, { type: file.type }));
    });
    if (files.length) {
      e.preventDefault();
      keep(input, files);
    }
  });

  /* ---- canned responses --------------------------------------------------- */

  function insertAtCursor(area, text) {
    var start = area.selectionStart || 0;
    var end = area.selectionEnd || 0;
    var before = area.value.slice(0, start);
    var joiner = before && !/\n$/.test(before) ? "\n" : "";
    area.value = before + joiner + text + area.value.slice(end);
    var at = (before + joiner + text).length;
    area.setSelectionRange(at, at);
    area.dispatchEvent(new Event("input", { bubbles: true }));
  }

  document.addEventListener("submit", function (e) {
    var form = e.target;
    if (!form.hasAttribute("data-canned")) return;
    var option = form.querySelector("select").selectedOptions[0];
    var area = document.getElementById(form.getAttribute("data-canned"));
    if (!option || !option.value || !area) return;
    e.preventDefault();
    insertAtCursor(area, option.getAttribute("data-body"));
    area.focus();
  });

  /* ---- inline updates: post, then swap in the page the server answers ---- */

  document.addEventListener("submit", function (e) {
    var form = e.target;
    if (!form.hasAttribute("data-inline") || e.defaultPrevented || !window.fetch) return;
    e.preventDefault();
    var submitter = e.submitter || null;
    var action = submitter && submitter.hasAttribute("formaction") ? submitter.formAction : form.action;
    var data = new FormData(form);
    if (submitter && submitter.name) data.append(submitter.name, submitter.value);
    var focusId = document.activeElement && document.activeElement.id;
    form.setAttribute("aria-busy", "true");
    fetch(action, { method: "POST", body: data, credentials: "same-origin",
                    headers: { "X-Requested-With": "fetch" } })
      .then(function (response) {
        return response.text().then(function (html) { return { response: response, html: html }; });
      })
      .then(function (got) {
        var doc = new DOMParser().parseFromString(got.html, "text/html");
        var fresh = doc.getElementById("main");
        if (!fresh) { form.removeAttribute("aria-busy"); form.submit(); return; }
        document.getElementById("main").replaceWith(fresh);
        document.title = doc.title;
        if (got.response.url && got.response.url !== location.href) {
          history.replaceState(null, "", got.response.url);
        }
        tick();
        var again = focusId && document.getElementById(focusId);
        var note = fresh.querySelector(".messages");
        (note || again || fresh).focus();
        if (again && note) again.focus({ preventScroll: true });
      })
      .catch(function () { form.removeAttribute("aria-busy"); form.submit(); });
  });

  /* ---- bulk selection in queues ----------------------------------------- */

  function countSelected() {
    var n = document.querySelectorAll("input[name=refs]:checked").length;
    document.querySelectorAll("[data-selected-count]").forEach(function (el) {
      el.textContent = say("selected", { n: n });
    });
  }

  document.addEventListener("change", function (e) {
    var el = e.target;
    if (el.hasAttribute && el.hasAttribute("data-select-all")) {
      document.querySelectorAll("input[name=refs]").forEach(function (box) { box.checked = el.checked; });
    }
    if (el.name === "refs" || (el.hasAttribute && el.hasAttribute("data-select-all"))) countSelected();
    if (el.hasAttribute && el.hasAttribute("data-bulk-op")) showBulkFields(el);
  });

  function showBulkFields(select) {
    var form = select.closest("form");
    form.querySelectorAll("[data-for-op]").forEach(function (field) {
      field.hidden = field.getAttribute("data-for-op") !== select.value;
    });
  }
  document.querySelectorAll("[data-bulk-op]").forEach(showBulkFields);

  /* ---- keyboard shortcuts ---------------------------------------------------- */

  var current = -1;
  var pending = "";

  function typing(el) {
    if (!el) return false;
    if (el.isContentEditable || el.tagName === "TEXTAREA" || el.tagName === "SELECT") return true;
    return el.tagName === "INPUT" && el.type !== "checkbox" && el.type !== "radio";
  }

  function rows() { return Array.prototype.slice.call(document.querySelectorAll("[data-row]")); }

  function moveTo(index) {
    var all = rows();
    if (!all.length) return;
    current = Math.max(0, Math.min(all.length - 1, index));
    all.forEach(function (row, i) { row.classList.toggle("current", i === current); });
    var link = all[current].querySelector("a");
    if (link) link.focus();
  }

  document.addEventListener("keydown", function (e) {
    if (e.ctrlKey || e.metaKey || e.altKey || typing(e.target)) return;
    var key = e.key;
    var help = document.getElementById("shortcuts");
    if (key === "?" && help && help.showModal) { e.preventDefault(); help.showModal(); return; }
    if (pending === "g") {
      pending = "";
      var go = document.querySelector('[data-goto="' + key + '"]');
      if (go) { e.preventDefault(); location.href = go.href; }
      return;
    }
    if (key === "g") { pending = "g"; setTimeout(function () { pending = ""; }, 1500); return; }
    if (key === "/") {
      var search = document.querySelector("[data-search]");
      if (search) { e.preventDefault(); search.focus(); search.select(); }
      return;
    }
    if ((key === "j" || key === "k") && rows().length) {
      e.preventDefault();
      var at = rows().indexOf(document.activeElement && document.activeElement.closest("[data-row]"));
      moveTo((at >= 0 ? at : current) + (key === "j" ? 1 : -1));
      return;
    }
    if (key === "x" && rows().length) {
      var row = document.activeElement && document.activeElement.closest("[data-row]") || rows()[current];
      var box = row && row.querySelector("input[name=refs]");
      if (box) { e.preventDefault(); box.checked = !box.checked; countSelected(); }
      return;
    }
    var target = document.querySelector('[data-key="' + key + '"]');
    if (!target) return;
    e.preventDefault();
    if (/^(TEXTAREA|INPUT|SELECT)$/.test(target.tagName)) {
      target.scrollIntoView({ block: "center" });
      target.focus();
    } else {
      target.click();
    }
  });
})();
