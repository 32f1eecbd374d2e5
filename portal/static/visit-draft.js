/*
 * Visit drafts: a grid worker's visit form survives a weak or absent mobile network.
 *
 * Loaded (defer, same origin: the CSP allows only our own scripts) on the file page, which
 * carries <form data-draft-file="FILE_ID">, and on the task list right after a visit was
 * saved, which carries <div data-saved-file="FILE_ID" data-saved-key="KEY">.
 *
 * - Every input or change saves the whole form (except the CSRF token) in localStorage under
 *   "visit-draft:FILE_ID": method, outcome, reason, note, follow-up date, whether the worker
 *   helped activate the e-credential (a checkbox: kept only when ticked), and the hidden
 *   idempotency key, file version and form token the page was rendered with.
 * - When the file page opens and a draft of that file exists, the draft is put back into the
 *   form (with its idempotency key and version) and a notice says so, with a button to discard
 *   it. A page the server re-rendered after a refused or conflicting submit
 *   (data-draft-keep) is not overwritten: it already holds the worker's input and the file's
 *   new version; the draft is updated from it instead.
 * - On submit while navigator.onLine is false the request is not sent: the draft stays and
 *   the worker reads "网络未连接，已保存在本机，联网后请再次提交". A submit that the network loses
 *   on the way (or whose answer is lost) leaves the draft too: reopening the file restores it.
 * - The task list clears the draft once the server says the visit with that key was saved.
 *
 * Because the idempotency key travels with the draft, resubmitting a draft whose first submit
 * did reach the server saves nothing twice: the server answers with the visit already saved.
 * Without JavaScript (or without localStorage) the form still works; only the draft is missing.
 *
 * Photos (type=file) cannot be put back by a script: never in the draft; those the server took
 * are pending uploads of the draft's idempotency key (portal/visits/evidence.py).
 *
 * The reason-not-insured select is shown and required only when the chosen outcome needs a
 * reason (data-needs-reason); without JavaScript it is always shown and the server checks it.
 */
(function () {
  "use strict";

  var PREFIX = "visit-draft:";
  var MAX_AGE_MS = 14 * 24 * 3600 * 1000; // an older draft is dropped rather than restored
  var OFFLINE = "网络未连接，已保存在本机，联网后请再次提交";
  var store;
  try {
    store = window.localStorage;
    store.setItem(PREFIX + "probe", "1");
    store.removeItem(PREFIX + "probe");
  } catch (e) {
    store = null; // private mode or storage disabled: the form works without drafts
  }

  function read(fileId) {
    try {
      var draft = JSON.parse(store.getItem(PREFIX + fileId));
      return draft && draft.fields ? draft : null;
    } catch (e) {
      return null;
    }
  }

  function write(fileId, fields) {
    try {
      store.setItem(PREFIX + fileId, JSON.stringify({ at: Date.now(), fields: fields }));
    } catch (e) {
      /* storage full: nothing more to do */
    }
  }

  // The task list after a save: forget the draft that was just saved (same key only).
  var saved = document.querySelector("[data-saved-key]");
  if (saved && store) {
    var done = read(saved.getAttribute("data-saved-file"));
    if (done && done.fields.idempotency_key === saved.getAttribute("data-saved-key")) {
      store.removeItem(PREFIX + saved.getAttribute("data-saved-file"));
    }
  }

  var form = document.querySelector("form[data-draft-file]");
  if (!form) {
    return;
  }
  var fileId = form.getAttribute("data-draft-file");
  var status = document.getElementById("draft-status");
  var reason = form.elements.reason_code;
  var reasonField = reason && reason.closest(".field");

  function say(text) {
    if (status) {
      status.textContent = text;
      status.hidden = !text;
    }
  }

  function collect() {
    var fields = {};
    for (var i = 0; i < form.elements.length; i++) {
      var el = form.elements[i];
      if (!el.name || el.name === "csrf_token" || el.type === "submit" || el.type === "button") {
        continue;
      }
      if (el.type === "file" || el.name === "drop_evidence") {
        continue;
      }
      if (el.type === "radio" || el.type === "checkbox") {
        if (el.checked) {
          fields[el.name] = el.value;
        }
      } else {
        fields[el.name] = el.value;
      }
    }
    return fields;
  }

  function restore(fields) {
    Object.keys(fields).forEach(function (name) {
      var el = form.elements[name];
      if (el && name !== "csrf_token" && el.type !== "checkbox" && el.type !== "file") {
        el.value = fields[name]; // a RadioNodeList checks the radio with that value
      }
    });
    // A checkbox (帮助激活医保电子凭证) is in the draft only when ticked.
    var boxes = form.querySelectorAll("input[type=checkbox]:not([name=drop_evidence])");
    for (var i = 0; i < boxes.length; i++) {
      boxes[i].checked = fields[boxes[i].name] === boxes[i].value;
    }
  }

  function toggleReason() {
    if (!reason || !reasonField) {
      return;
    }
    var chosen = form.querySelector("input[name=outcome]:checked");
    var needed = !!(chosen && chosen.hasAttribute("data-needs-reason"));
    reasonField.hidden = !needed;
    reason.disabled = !needed; // not sent: the outcome's own reason applies
    reason.required = needed;
  }

  // The evidence hint follows the chosen outcome (data-evidence, data-evidence-hint).
  var hintEl = document.getElementById("evidence-hint");
  var general = hintEl && hintEl.textContent;

  function toggleEvidence() {
    var chosen = form.querySelector("input[name=outcome]:checked");
    var kind = chosen && chosen.getAttribute("data-evidence");
    if (hintEl) {
      hintEl.textContent = kind
        ? (kind === "required" ? "须" : "可") + "上传证明材料照片：" + chosen.getAttribute("data-evidence-hint") + "。"
        : general;
    }
  }

  function save() {
    if (store) {
      write(fileId, collect());
    }
  }

  function offerDiscard() {
    say("已恢复本机保存的未提交走访记录，请核对后提交。");
    var discard = document.createElement("button");
    discard.type = "button";
    discard.className = "small";
    discard.textContent = "丢弃草稿";
    discard.addEventListener("click", function () {
      store.removeItem(PREFIX + fileId);
      window.location.reload();
    });
    status.appendChild(document.createTextNode(" "));
    status.appendChild(discard);
  }

  if (store) {
    var draft = read(fileId);
    if (form.hasAttribute("data-draft-keep")) {
      save();
    } else if (draft && Date.now() - draft.at < MAX_AGE_MS) {
      restore(draft.fields);
      if (status) {
        offerDiscard();
      }
    } else if (draft) {
      store.removeItem(PREFIX + fileId);
    }
  }
  toggleReason();
  toggleEvidence();

  form.addEventListener("input", save);
  form.addEventListener("change", function () {
    toggleReason();
    toggleEvidence();
    save();
  });
  form.addEventListener("submit", function (event) {
    save();
    if (navigator.onLine === false) {
      event.preventDefault();
      var photos = [].some.call(form.querySelectorAll("input[type=file]"), function (f) {
        return f.files && f.files.length;
      });
      say(photos ? OFFLINE + "（照片不能保存在本机，联网后请重新选择）" : OFFLINE);
    }
  });
  window.addEventListener("online", function () {
    if (status && status.textContent.indexOf(OFFLINE) === 0) {
      say("网络已恢复，请再次点击“保存走访记录”。");
    }
  });
})();
