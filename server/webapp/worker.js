// Service worker of the imaging status app, a template filled by go-app
// ({{.Version}}, {{.ResourcesToCache}}) and by webapp.New ({{.AppRoutes}}).
//
// go-app's own worker answers from its cache only for the exact URLs it
// pre-cached, so a deep link (/wall, /entities/UUID1, /?q) would fail while
// the hub is down. Every route of the app is the same single-page shell:
// the WASM reads the real URL and renders it. So a page navigation to any
// app route is answered with the cached "/" shell; everything else the
// worker pre-cached is answered from the cache; the API and the viewer
// socket always go to the network.
const cacheName = "imaging-status-{{.Version}}";
const precache = {{.ResourcesToCache}};
const appRoutes = new RegExp({{.AppRoutes}});
const shellURL = "/";

self.addEventListener("install", (event) => {
  // Wait for the whole pre-cache: a failed download fails the install and
  // the previous worker stays, instead of an empty cache that breaks offline.
  event.waitUntil((async () => {
    const cache = await caches.open(cacheName);
    await cache.addAll(precache);
    await self.skipWaiting();
  })());
});

self.addEventListener("activate", (event) => {
  event.waitUntil((async () => {
    const keys = await caches.keys();
    await Promise.all(keys.filter((k) => k !== cacheName).map((k) => caches.delete(k)));
    await self.clients.claim();
  })());
});

self.addEventListener("fetch", (event) => {
  const req = event.request;
  if (req.method !== "GET") {
    return;
  }
  const url = new URL(req.url);
  if (url.origin !== self.location.origin || url.pathname.startsWith("/api/")) {
    return;
  }
  if (req.mode === "navigate" && appRoutes.test(url.pathname)) {
    event.respondWith(fromCache(shellURL, req));
    return;
  }
  event.respondWith(fromCache(req, req));
});

// fromCache answers with the cached copy of key, else the network.
async function fromCache(key, req) {
  const cache = await caches.open(cacheName);
  const hit = await cache.match(key, { ignoreVary: true });
  if (hit) {
    return hit;
  }
  return fetch(req);
}
