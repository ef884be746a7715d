import type https from "node:https";
import type { KubeConfig } from "@kubernetes/client-node";
import { request } from "undici";
import { KubeHttpError, sharedDispatcher, USER_AGENT } from "./client.ts";
import { requestTimeout } from "./fence.ts";

/**
 * JSON over the shared connection pool, for the writer's hot path (one call per namespace per
 * rollout). client-node's generated client walks every request and response through its model
 * serializer and builds a new agent per call; at 1,000 Secrets that client-side work competed
 * with the API server for CPU. Authentication still comes from the KubeConfig on every call,
 * so rotated tokens and exec plugins keep working.
 */
export class RawClient {
  private readonly server: string;

  constructor(
    private readonly kc: KubeConfig,
    private readonly timeoutMs = 30_000,
  ) {
    const cluster = kc.getCurrentCluster();
    if (!cluster) throw new Error("no active cluster in kubeconfig");
    this.server = cluster.server.replace(/\/+$/, "");
  }

  async call<T>(
    method: "GET" | "POST" | "PATCH" | "DELETE",
    path: string,
    body?: unknown,
    contentType = "application/json",
  ): Promise<T> {
    const headers = await requestHeaders(this.kc);
    if (body !== undefined) headers["content-type"] = contentType;
    const dispatcher = await sharedDispatcher(this.kc);
    // Checked last, right before sending: see fence.ts.
    const signal = requestTimeout(this.timeoutMs);
    const res = await request(`${this.server}${path}`, {
      method,
      headers,
      body: body === undefined ? undefined : JSON.stringify(body),
      signal,
      ...(dispatcher ? { dispatcher } : {}),
    });
    const text = await res.body.text();
    if (res.statusCode >= 300) throw new KubeHttpError(res.statusCode, text, method, path);
    return (text ? JSON.parse(text) : undefined) as T;
  }
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
