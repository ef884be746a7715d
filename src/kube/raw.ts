import type { KubeConfig } from "@kubernetes/client-node";
import { KubeHttpError } from "./client.ts";
import { requestDeadline } from "./fence.ts";
import { readBody } from "../base/read-body.ts";
import { requestHeaders, send, type RequestBody } from "./transport.ts";

/** A JSON body serialized ahead of the call (see transport.ts RequestBody): sent as it is. */
export class SerializedJson {
  constructor(readonly parts: Exclude<RequestBody, string>) {}
}

/**
 * JSON over the shared connection pool (transport.ts): every call regcred makes, the Secret
 * writer's hot path included (one call per namespace per rollout). Authentication comes from
 * the KubeConfig on every call, so rotated tokens and exec plugins keep working.
 */
export class RawClient {
  constructor(
    private readonly kc: KubeConfig,
    private readonly timeoutMs = 30_000,
  ) {}

  async call<T>(
    method: "GET" | "POST" | "PUT" | "PATCH" | "DELETE",
    path: string,
    body?: unknown,
    opts: { contentType?: string; accept?: string; signal?: AbortSignal | undefined } = {},
  ): Promise<T> {
    const headers = await requestHeaders(this.kc);
    if (opts.accept) headers.accept = opts.accept;
    if (body !== undefined) headers["content-type"] = opts.contentType ?? "application/json";
    // Checked last, right before sending: see fence.ts.
    const { signal, done } = requestDeadline(this.timeoutMs, opts.signal);
    try {
      const res = await send(this.kc, {
        method,
        path,
        headers,
        ...(body === undefined
          ? {}
          : { body: body instanceof SerializedJson ? body.parts : JSON.stringify(body) }),
        signal,
        idleMs: this.timeoutMs,
      });
      const text = await readBody(res, signal);
      const status = res.statusCode ?? 0;
      if (status >= 300) throw new KubeHttpError(status, text, method, path);
      return (text ? JSON.parse(text) : undefined) as T;
    } finally {
      done();
    }
  }
}
