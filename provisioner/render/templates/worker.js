// Cloudflare Worker (ES module) that relays a container registry for pulls.
//
// Settings come from wrangler.toml [vars] (bindings on `env`), never from this file:
//   UPSTREAM_REGISTRY   registry API root relayed under /v2/     (https://registry-1.docker.io)
//   UPSTREAM_AUTH       token service: its realm <UPSTREAM_AUTH>/token is relayed as /token
//   DOCKER_HUB_LIBRARY  "true": single-name images get library/ (in the path and token scope)
//   ALLOW_PREFIXES      comma-separated repository prefixes ("library,bitnami"); empty = all
//
// What it does, and why:
// - /v2/... is relayed for GET and HEAD only; anything else is refused with a registry error.
// - The upstream's Bearer challenge names realm="<UPSTREAM_AUTH>/token"; it is rewritten to
//   this Worker's own /token, which relays to the real token service. Clients then never need
//   to reach the auth host (often blocked where a relay is needed at all).
// - Blob downloads answer 307 to a CDN/object store. The Worker follows the redirect itself and
//   drops the Authorization header once it leaves the registry's origin: the storage host
//   rejects a request carrying the registry's token ("Missing x-amz-content-sha256").
// - Any other path gets a plain 404 that says what this host is.

const REDIRECTS = new Set([301, 302, 303, 307, 308]);
const MAX_REDIRECTS = 5;
const REPO_PATH = /^\/v2\/(.+)\/(manifests|blobs|tags)\/([^/]+)$/;
const FORWARDED = ["accept", "authorization", "range", "if-none-match", "if-modified-since", "user-agent"];

export default {
  async fetch(request, env) {
    const cfg = settings(env);
    const url = new URL(request.url);
    try {
      if (url.pathname === "/token") {
        return await relayToken(request, url, cfg);
      }
      if (url.pathname === "/v2" || url.pathname.startsWith("/v2/")) {
        return await relayRegistry(request, url, cfg);
      }
    } catch (err) {
      return registryError(502, "UNAVAILABLE", `upstream request failed: ${(err && err.message) || err}`);
    }
    return new Response(
      "Not found: this host relays the container registry API (/v2/) and its token service (/token) only.\n",
      { status: 404, headers: { "content-type": "text/plain; charset=utf-8" } },
    );
  },
};

function settings(env) {
  const root = (value, fallback) => String(value || fallback).replace(/\/+$/, "");
  return {
    registry: root(env.UPSTREAM_REGISTRY, "https://registry-1.docker.io"),
    auth: root(env.UPSTREAM_AUTH, "https://auth.docker.io"),
    library: String(env.DOCKER_HUB_LIBRARY ?? "true").toLowerCase() === "true",
    allow: String(env.ALLOW_PREFIXES || "")
      .split(",")
      .map((p) => p.trim().replace(/^\/+|\/+$/g, ""))
      .filter(Boolean),
  };
}

// The repository name as the upstream knows it: library/ added for official Docker Hub images.
function upstreamName(name, cfg) {
  return cfg.library && !name.includes("/") ? `library/${name}` : name;
}

// An entry allows the repository it names and everything below it ("library" -> "library/x").
function allowed(name, cfg) {
  return cfg.allow.length === 0 || cfg.allow.some((p) => name === p || name.startsWith(`${p}/`));
}

async function relayRegistry(request, url, cfg) {
  if (request.method !== "GET" && request.method !== "HEAD") {
    return registryError(405, "UNSUPPORTED", "this proxy serves pulls only (GET and HEAD)");
  }
  let path = "/v2/";
  if (url.pathname !== "/v2" && url.pathname !== "/v2/") {
    const match = REPO_PATH.exec(url.pathname);
    if (!match) {
      return registryError(404, "UNSUPPORTED", "only manifests, blobs and tag lists are relayed");
    }
    const name = upstreamName(match[1], cfg);
    if (!allowed(name, cfg)) {
      return registryError(403, "DENIED", `repository ${name} is not allowed through this proxy`);
    }
    path = `/v2/${name}/${match[2]}/${match[3]}`;
  }
  const target = new URL(cfg.registry + path);
  for (const [key, value] of url.searchParams) {
    // ns= is containerd's mirror hint, meant for us, not for the upstream.
    if (key !== "ns") target.searchParams.append(key, value);
  }
  const headers = forwardedHeaders(request.headers);
  let response = await fetch(target, { method: request.method, headers, redirect: "manual" });
  response = await followRedirects(request.method, response, target, headers, cfg);
  return withOwnRealm(response, cfg, url.origin);
}

async function followRedirects(method, response, from, headers, cfg) {
  const registryOrigin = new URL(cfg.registry).origin;
  let current = from;
  for (let hop = 0; hop < MAX_REDIRECTS && REDIRECTS.has(response.status); hop++) {
    const location = response.headers.get("location");
    if (!location) break;
    const next = new URL(location, current);
    const nextHeaders = new Headers(headers);
    if (next.origin !== registryOrigin) nextHeaders.delete("authorization");
    response = await fetch(next, { method, headers: nextHeaders, redirect: "manual" });
    current = next;
  }
  return response;
}

function withOwnRealm(response, cfg, origin) {
  const challenge = response.headers.get("www-authenticate");
  const realm = `realm="${cfg.auth}/token"`;
  if (!challenge || !challenge.includes(realm)) return response;
  const out = new Response(response.body, response);
  out.headers.set("www-authenticate", challenge.replace(realm, `realm="${origin}/token"`));
  return out;
}

async function relayToken(request, url, cfg) {
  if (request.method !== "GET" && request.method !== "POST") {
    return registryError(405, "UNSUPPORTED", "the token service takes GET and POST only");
  }
  const target = new URL(`${cfg.auth}/token`);
  const scopes = [];
  for (const [key, value] of url.searchParams) {
    const fixed = key === "scope" ? fixScope(value, cfg, scopes) : value;
    target.searchParams.append(key, fixed);
  }
  const headers = new Headers();
  for (const name of ["accept", "authorization", "content-type", "user-agent"]) {
    const value = request.headers.get(name);
    if (value !== null) headers.set(name, value);
  }
  let body;
  if (request.method === "POST") {
    // The OAuth2 form (containerd, docker login) carries its scope in the body.
    const form = new URLSearchParams(await request.text());
    const fixed = new URLSearchParams();
    for (const [key, value] of form) fixed.append(key, key === "scope" ? fixScope(value, cfg, scopes) : value);
    body = fixed.toString();
    headers.set("content-type", "application/x-www-form-urlencoded");
  }
  const denied = scopes.find((name) => !allowed(name, cfg));
  if (denied !== undefined) {
    return registryError(403, "DENIED", `repository ${denied} is not allowed through this proxy`);
  }
  return fetch(target, { method: request.method, headers, body, redirect: "follow" });
}

// "repository:busybox:pull" -> "repository:library/busybox:pull"; records repository names.
function fixScope(scope, cfg, names) {
  return scope
    .split(" ")
    .map((item) => {
      const parts = item.split(":");
      if (parts.length < 3 || parts[0] !== "repository") return item;
      const name = upstreamName(parts.slice(1, -1).join(":"), cfg);
      names.push(name);
      return `repository:${name}:${parts[parts.length - 1]}`;
    })
    .join(" ");
}

function forwardedHeaders(incoming) {
  const headers = new Headers();
  for (const name of FORWARDED) {
    const value = incoming.get(name);
    if (value !== null) headers.set(name, value);
  }
  return headers;
}

function registryError(status, code, message) {
  const body = JSON.stringify({ errors: [{ code, message, detail: null }] });
  return new Response(body, {
    status,
    headers: { "content-type": "application/json", "docker-distribution-api-version": "registry/2.0" },
  });
}
