/*
 * Signed out: forget what the portal kept on this device (shared phones).
 *
 * Loaded by the login page right after 退出 (the logout response marks the session; see
 * accounts/views.py). The visit drafts (visit-draft.js, "visit-draft:FILE_ID" in localStorage)
 * hold names, outcomes and notes about persons: the next person to pick up the phone must not
 * find them. Everything of this origin goes: localStorage, sessionStorage, IndexedDB databases
 * and Cache Storage, where the browser has them.
 *
 * The logout response also carries `Clear-Site-Data: "storage"`, which clears the same in the
 * browsers that honour it (Chromium, Firefox); this script does not depend on it, for the
 * browsers and in-app web views that ignore the header.
 */
(function () {
  "use strict";
  try {
    window.localStorage.clear();
  } catch (e) {
    /* storage disabled: nothing was kept */
  }
  try {
    window.sessionStorage.clear();
  } catch (e) {
    /* idem */
  }
  try {
    if (window.indexedDB && typeof window.indexedDB.databases === "function") {
      window.indexedDB.databases().then(function (databases) {
        databases.forEach(function (db) {
          if (db.name) {
            window.indexedDB.deleteDatabase(db.name);
          }
        });
      });
    }
  } catch (e) {
    /* not supported */
  }
  try {
    if (window.caches && typeof window.caches.keys === "function") {
      window.caches.keys().then(function (names) {
        names.forEach(function (name) {
          window.caches.delete(name);
        });
      });
    }
  } catch (e) {
    /* not supported */
  }
  document.documentElement.setAttribute("data-device-cleared", "1");
})();
