// Runs before app.wasm starts (deferred, first of the page's scripts).
//
// 1. The hub wrote the viewer's entities into the page (#imaging-seed) and
//    drew them: they go into the app's stored snapshot, which the app reads
//    first, so its first render shows the same words and the swap of the
//    hub's DOM for the app's is not seen. Restamped with this browser's
//    clock; the difference from the hub's becomes the snapshot's skew.
// 2. The hub cannot read the browser's storage: the language switch and the
//    entity shown last are copied into cookies, so the next page the hub
//    draws uses them. Copied now, when the app changes <html lang> (the
//    language switch), and when the page is hidden or left.
(function () {
  "use strict";
  var viewKey = "imaging-status.view";
  var langKey = "imaging-status.lang";
  var entityKey = "imaging-status.entity";

  function stored(key) {
    try {
      var v = JSON.parse(localStorage.getItem(key) || "null");
      return typeof v === "string" ? v : "";
    } catch (e) {
      return "";
    }
  }

  function cookie(name, value) {
    var attrs = "; Path=/; SameSite=Strict" + (location.protocol === "https:" ? "; Secure" : "");
    if (value && /^[A-Za-z0-9_.-]{1,64}$/.test(value)) {
      document.cookie = name + "=" + value + attrs + "; Max-Age=31536000";
    } else {
      document.cookie = name + "=" + attrs + "; Max-Age=0";
    }
  }

  function sync() {
    cookie("imaging_lang", stored(langKey));
    cookie("imaging_entity", stored(entityKey));
  }

  var el = document.getElementById("imaging-seed");
  if (el) {
    try {
      var seed = JSON.parse(el.textContent);
      var now = Date.now();
      var view = seed.view;
      view.saved_at = new Date(now).toISOString();
      view.skew = Math.round((Date.parse(seed.hub_now) - now) * 1e6); // ns
      localStorage.setItem(viewKey, JSON.stringify(view));
    } catch (e) {
      // No storage (private mode, quota): the app starts from the hub's feed.
    }
  }

  sync();
  new MutationObserver(sync).observe(document.documentElement, { attributes: true, attributeFilter: ["lang"] });
  addEventListener("pagehide", sync);
  document.addEventListener("visibilitychange", function () {
    if (document.visibilityState === "hidden") {
      sync();
    }
  });
})();
