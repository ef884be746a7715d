import type { KubeConfig } from "@kubernetes/client-node";
import http, { type IncomingMessage } from "node:http";
import https from "node:https";
import tls from "node:tls";
import { userAgent } from "../base/version.ts";
import { fenceAtSocket } from "./fence.ts";

const USER_AGENT = userAgent();

interface Connection {
  base: URL;
  agent: http.Agent;
}

const connections = new WeakMap<KubeConfig, Promise<Connection>>();

/**
 * One keep-alive pool per cluster, on Node's own HTTP client. The TLS settings come from the
 * kubeconfig once; credentials are read for every request (requestHeaders), so rotated
 * ServiceAccount tokens and exec plugins keep working. A proxied cluster uses the agent
 * client-node builds for its proxy-url (HTTP(S) or SOCKS).
 *
 * Why not undici: its JavaScript HTTP stack (and WebAssembly parser) was about 10 MB of the
 * daemon's resident memory, for nothing node:http does not do with the native parser.
 */
function connection(kc: KubeConfig): Promise<Connection> {
  let pending = connections.get(kc);
  if (!pending) {
    pending = (async () => {
      const cluster = kc.getCurrentCluster();
      if (!cluster) throw new Error("no active cluster in kubeconfig");
      const base = new URL(cluster.server.replace(/\/+$/, ""));
      const opts: https.RequestOptions = {};
      await kc.applyToHTTPSOptions(opts);
      if (cluster.proxyUrl && opts.agent) return { base, agent: opts.agent as http.Agent };
      // Idle sockets are closed after 30 s, before the API server or a load balancer drops them.
      const pool = { keepAlive: true, maxSockets: 64, maxFreeSockets: 64, timeout: 30_000 };
      if (base.protocol === "http:") return { base, agent: new http.Agent(pool) };
      const material: tls.SecureContextOptions = {};
      for (const key of ["ca", "cert", "key", "pfx", "passphrase"] as const) {
        if (opts[key] !== undefined) (material as Record<string, unknown>)[key] = opts[key];
      }
      // One TLS context for every connection: without it Node builds one per socket (its own
      // certificate store and parsed CA), which at a pool of 64 was tens of MB.
      const agent = new https.Agent({
        ...pool,
        secureContext: tls.createSecureContext(material),
        ...(opts.servername !== undefined ? { servername: opts.servername } : {}),
        ...(opts.rejectUnauthorized !== undefined ? { rejectUnauthorized: opts.rejectUnauthorized } : {}),
      });
      return { base, agent };
    })();
    connections.set(kc, pending);
  }
  return pending;
}

/** Accept, user agent and the kubeconfig's credentials, read afresh for every request. */
export async function requestHeaders(kc: KubeConfig): Promise<Record<string, string>> {
  const opts: https.RequestOptions = {};
  await kc.applyToHTTPSOptions(opts);
  const headers: Record<string, string> = { accept: "application/json", "user-agent": USER_AGENT };
  for (const [k, v] of Object.entries(opts.headers ?? {}))
    if (v !== undefined) headers[k.toLowerCase()] = String(v);
  if (opts.auth) headers.authorization = `Basic ${Buffer.from(opts.auth).toString("base64")}`;
  return headers;
}

/**
 * A request body: text, or parts sent one after another. A part shared by many requests (a
 * Secret's data, the same in every namespace) is serialized once and not copied for each.
 */
export type RequestBody = string | readonly (string | Uint8Array)[];

function byteLength(body: RequestBody): number {
  if (typeof body === "string") return Buffer.byteLength(body);
  let n = 0;
  for (const part of body) n += typeof part === "string" ? Buffer.byteLength(part) : part.byteLength;
  return n;
}

export interface SendOptions {
  method: string;
  /** Path and query, from the API root: `/api/v1/...`. */
  path: string;
  headers: Record<string, string>;
  body?: RequestBody;
  signal: AbortSignal;
  /** A connection silent this long (no headers, no body bytes) is dropped. */
  idleMs: number;
  /** No response headers this long after sending: dropped (unset, only idleMs applies). */
  headersMs?: number;
}

/**
 * Sends one request and resolves with the response as it starts (the body still to read):
 * unary calls read it whole, watches stream it. An aborted signal rejects with its reason
 * (a timeout's TimeoutError, the fence's LeadershipLost), not with a generic abort.
 */
export async function send(kc: KubeConfig, o: SendOptions): Promise<IncomingMessage> {
  const { base, agent } = await connection(kc);
  const client = base.protocol === "http:" ? http : https;
  return new Promise<IncomingMessage>((resolve, reject) => {
    const req = client.request(
      {
        protocol: base.protocol,
        hostname: base.hostname.replace(/^\[|\]$/g, ""),
        port: base.port || undefined,
        path: base.pathname.replace(/\/$/, "") + o.path,
        method: o.method,
        headers: o.body === undefined ? o.headers : { ...o.headers, "content-length": byteLength(o.body) },
        agent,
        signal: o.signal,
      },
      (res) => {
        clearTimeout(headersTimer);
        resolve(res);
      },
    );
    const headersTimer =
      o.headersMs === undefined
        ? undefined
        : setTimeout(
            () => req.destroy(new Error(`no response headers from the API server in ${o.headersMs} ms`)),
            o.headersMs,
          );
    req.setTimeout(o.idleMs, () => req.destroy(new Error(`no answer from the API server in ${o.idleMs} ms`)));
    req.on("error", (err) => {
      clearTimeout(headersTimer);
      reject(o.signal.aborted ? o.signal.reason : err);
    });
    fenceAtSocket(req);
    if (typeof o.body === "string" || o.body === undefined) req.end(o.body);
    else {
      // Written in one tick: node:http corks the socket, so the parts leave as one write.
      for (const part of o.body) req.write(part);
      req.end();
    }
  });
}
