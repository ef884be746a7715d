import type { KubeConfig, KubernetesObject } from "@kubernetes/client-node";
import { KubeHttpError } from "./client.ts";
import { readBody } from "../base/read-body.ts";
import { requestHeaders, send } from "./transport.ts";

export type WatchEvent<T> =
  | { type: "ADDED" | "MODIFIED" | "DELETED" | "BOOKMARK"; object: T }
  | { type: "ERROR"; object: { code?: number; reason?: string; message?: string } };

export interface WatchRequest {
  /** Where to start: the newest resourceVersion the caller has seen (never empty: list first). */
  resourceVersion: string;
  labelSelector?: string;
  fieldSelector?: string;
  /** The Accept header, if not plain JSON (e.g. metadata only). */
  accept?: string;
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
  const query = new URLSearchParams({
    watch: "true",
    allowWatchBookmarks: "true",
    resourceVersion: req.resourceVersion,
    timeoutSeconds: String(req.timeoutSeconds),
  });
  if (req.labelSelector) query.set("labelSelector", req.labelSelector);
  if (req.fieldSelector) query.set("fieldSelector", req.fieldSelector);
  const res = await send(kc, {
    method: "GET",
    path: `${path}?${query}`,
    headers: { ...(await requestHeaders(kc)), ...(req.accept ? { accept: req.accept } : {}) },
    signal: req.signal,
    // Bookmarks only come when the resource's version moves, so a quiet watch can be silent
    // for its whole life: only silence past the server's own deadline means a dead connection.
    idleMs: (req.timeoutSeconds + 30) * 1000,
    headersMs: 30_000,
  });
  if (res.statusCode !== 200) {
    throw new KubeHttpError(res.statusCode ?? 0, await readBody(res, req.signal), "GET", `${path} (watch)`);
  }
  // Events are split on the newline byte and each line decoded once: a Secret event is tens
  // of kilobytes (four registries' tokens), and a string buffer would copy it three times
  // (decoder, concatenation, the flattening search) before JSON.parse copies it again. At
  // 1,000 namespaces that was about a third of what the daemon allocated while writing
  // (npm run bench:fanout). A newline byte never occurs inside a multi-byte UTF-8 character,
  // so no character is split.
  let pending: Buffer[] = [];
  try {
    for await (const chunk of res as AsyncIterable<Buffer>) {
      let start = 0;
      let nl: number;
      while ((nl = chunk.indexOf(0x0a, start)) >= 0) {
        const line =
          pending.length === 0
            ? chunk.toString("utf8", start, nl)
            : Buffer.concat([...pending, chunk.subarray(start, nl)]).toString("utf8");
        pending = [];
        start = nl + 1;
        if (line.trim()) onEvent(JSON.parse(line) as WatchEvent<T>);
      }
      if (start < chunk.length) pending.push(chunk.subarray(start));
    }
  } catch (err) {
    throw req.signal.aborted ? req.signal.reason : err;
  } finally {
    // An event handler that threw leaves the stream open: close it, and its socket with it.
    if (!res.complete) res.destroy();
  }
}
