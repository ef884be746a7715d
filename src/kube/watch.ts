import type { KubeConfig, KubernetesObject } from "@kubernetes/client-node";
import { request } from "undici";
import { KubeHttpError, sharedDispatcher } from "./client.ts";
import { requestHeaders } from "./raw.ts";

export type WatchEvent<T> =
  | { type: "ADDED" | "MODIFIED" | "DELETED" | "BOOKMARK"; object: T }
  | { type: "ERROR"; object: { code?: number; reason?: string; message?: string } };

export interface WatchRequest {
  /** Where to start: the newest resourceVersion the caller has seen (never empty: list first). */
  resourceVersion: string;
  labelSelector?: string;
  fieldSelector?: string;
  /** The server ends the watch after this long (client-go asks for 5-10 minutes). */
  timeoutSeconds: number;
  signal: AbortSignal;
}

/**
 * One watch request, streamed: resolves when the server ends it, rejects on an HTTP error or
 * a broken connection. Bookmarks are asked for, so a quiet watch still learns the newest
 * resourceVersion and the next one resumes from there instead of from a version the API
 * server may have forgotten (410 and a full relist).
 */
export async function watchOnce<T extends KubernetesObject>(
  kc: KubeConfig,
  path: string,
  req: WatchRequest,
  onEvent: (event: WatchEvent<T>) => void,
): Promise<void> {
  const cluster = kc.getCurrentCluster();
  if (!cluster) throw new Error("no active cluster in kubeconfig");
  const url = new URL(cluster.server.replace(/\/+$/, "") + path);
  url.searchParams.set("watch", "true");
  url.searchParams.set("allowWatchBookmarks", "true");
  url.searchParams.set("resourceVersion", req.resourceVersion);
  url.searchParams.set("timeoutSeconds", String(req.timeoutSeconds));
  if (req.labelSelector) url.searchParams.set("labelSelector", req.labelSelector);
  if (req.fieldSelector) url.searchParams.set("fieldSelector", req.fieldSelector);
  const dispatcher = await sharedDispatcher(kc);
  const res = await request(url, {
    method: "GET",
    headers: await requestHeaders(kc),
    signal: req.signal,
    headersTimeout: 30_000,
    // Bookmarks only come when the resource's version moves, so a quiet watch can be silent
    // for its whole life: only silence past the server's own deadline means a dead connection.
    bodyTimeout: (req.timeoutSeconds + 30) * 1000,
    ...(dispatcher ? { dispatcher } : {}),
  });
  if (res.statusCode !== 200) {
    throw new KubeHttpError(res.statusCode, await res.body.text(), "GET", `${path} (watch)`);
  }
  let partial = "";
  res.body.setEncoding("utf8"); // a character split across chunks stays whole
  for await (const chunk of res.body) {
    partial += chunk as string;
    let nl: number;
    while ((nl = partial.indexOf("\n")) >= 0) {
      const line = partial.slice(0, nl);
      partial = partial.slice(nl + 1);
      if (line.trim()) onEvent(JSON.parse(line) as WatchEvent<T>);
    }
  }
}
