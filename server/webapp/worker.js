// Service worker of the imaging status app, a template filled by go-app
// ({{.Version}}, {{.ResourcesToCache}}) and by webapp.New ({{.AppRoutes}}).
//
// go-app's own worker answers from its cache only for the exact URLs it
// pre-cached, so a deep link (/wall, /entities/UUID1, /?q) would fail while
// the hub is down. Every route of the app is the same single-page shell:
// the WASM reads the real URL and renders it.
//
// The hub draws each page with its viewer's statuses (a status before
// app.wasm starts), so a page navigation goes to the network first; only
// when the hub cannot answer (offline, or not within navTimeout) does the
// cached "/" shell answer. That shell is fetched without credentials and
// with the shell header, so it holds no status and no viewer's entities:
// the cache never hands one viewer's page to another. Everything else the
// worker pre-cached is answered from the cache; the API and the viewer
// socket always go to the network.
const cacheName = "imaging-status-{{.Version}}";
const precache = {{.ResourcesToCache}};
const appRoutes = new RegExp({{.AppRoutes}});
const shellURL = "/";
const navTimeout = 3000; // ms before a silent hub gives way to the shell

self.addEventListener("install", (event) => {
  // Wait for the whole pre-cache: a failed download fails the install and
  // the previous worker stays, instead of an empty cache that breaks offline.
  event.waitUntil((async () => {
    const cache = await caches.open(cacheName);
    await cache.addAll(precache.filter((u) => u !== shellURL));
    const shell = await fetch(new Request(shellURL, {
      headers: { "X-Imaging-Shell": "1" }, credentials: "omit", cache: "no-store",
    }));
    if (!shell.ok) {
      throw new Error("app shell: HTTP " + shell.status);
    }
    await cache.put(shellURL, shell);
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
    event.respondWith(networkFirst(req));
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

// networkFirst answers a page navigation from the hub, else (offline, an
// error status from a proxy, or no answer within navTimeout) with the cached
// shell; without a shell, whatever the network gives.
async function networkFirst(req) {
  const net = fetch(req);
  const timedOut = new Promise((resolve) => setTimeout(resolve, navTimeout, null));
  let resp = null;
  try {
    resp = await Promise.race([net, timedOut]);
  } catch (err) {
    resp = null;
  }
  if (resp && resp.status < 500) {
    return resp;
  }
  const cache = await caches.open(cacheName);
  const shell = await cache.match(shellURL, { ignoreVary: true });
  return shell || resp || net;
}
