import http from "node:http";
import https from "node:https";
import { readBody } from "../base/read-body.ts";

/** A registry's answer to one GET, read whole (the handshake's bodies are small). */
export interface Answer {
  status: number;
  ok: boolean;
  headers: { get(name: string): string | null };
  body: string;
}

export interface GetInit {
  headers: Record<string, string>;
  signal: AbortSignal;
}

export type HttpGet = (url: string, init: GetInit) => Promise<Answer>;

const MAX_REDIRECTS = 5;
/** A challenge, a token or a tag list; more than this is not a registry answering. */
const MAX_BODY = 1024 * 1024;
const REDIRECTS = new Set([301, 302, 303, 307, 308]);

/**
 * GET over node:http and node:https, with fetch's redirect rules (at most 5 hops, and the
 * Authorization header dropped when a redirect leaves the origin, as a bearer realm's or a
 * blob store's may). Not fetch: the first fetch() loads Node's bundled undici and compiles its
 * WebAssembly HTTP parser, about 4 MB resident for the daemon's whole life (npm run
 * bench:memory, 100 namespaces, idle: 91.9 MB with the check on fetch, 90.1 on node:https), for a
 * handshake of three small requests. The kube client already holds node:https.
 */
export const nodeGet: HttpGet = async (url, init) => {
  let target = new URL(url);
  let headers = init.headers;
  for (let hop = 0; ; hop++) {
    const res = await send(target, headers, init.signal);
    const status = res.statusCode ?? 0;
    const location = res.headers.location;
    if (REDIRECTS.has(status) && location) {
      res.resume();
      if (hop >= MAX_REDIRECTS) throw new Error(`more than ${MAX_REDIRECTS} redirects`);
      const next = new URL(location, target);
      if (next.origin !== target.origin) headers = withoutAuthorization(headers);
      target = next;
      continue;
    }
    const body = await readBody(res, init.signal, MAX_BODY);
    return {
      status,
      ok: status >= 200 && status < 300,
      headers: { get: (name) => headerValue(res.headers[name.toLowerCase()]) },
      body,
    };
  }
};

function send(url: URL, headers: Record<string, string>, signal: AbortSignal): Promise<http.IncomingMessage> {
  const request = url.protocol === "http:" ? http.request : https.request;
  return new Promise((resolve, reject) => {
    const req = request(url, { method: "GET", headers, signal }, resolve);
    req.on("error", reject);
    req.end();
  });
}

function withoutAuthorization(headers: Record<string, string>): Record<string, string> {
  return Object.fromEntries(Object.entries(headers).filter(([k]) => k.toLowerCase() !== "authorization"));
}

function headerValue(v: string | string[] | undefined): string | null {
  if (v === undefined) return null;
  return Array.isArray(v) ? v.join(", ") : v;
}
