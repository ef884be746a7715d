import { KubeConfig } from "@kubernetes/client-node";
import type { Logger } from "pino";
import { fenceDown } from "./fence.ts";

/**
 * In a Pod: the ServiceAccount token and CA. Elsewhere: the file given, else KUBECONFIG /
 * ~/.kube/config, as kubectl does.
 */
export function loadKubeConfig(file?: string): KubeConfig {
  const kc = new KubeConfig();
  if (file) kc.loadFromFile(file);
  else if (process.env.KUBERNETES_SERVICE_HOST && !process.env.KUBECONFIG) kc.loadFromCluster();
  else kc.loadFromDefault();
  if (!kc.getCurrentCluster())
    throw new Error("no Kubernetes cluster configured (in-cluster config or KUBECONFIG)");
  return kc;
}

/** A failed API call: the HTTP status and the body the API server sent (a Status, as a rule). */
export class KubeHttpError extends Error {
  constructor(
    readonly code: number,
    readonly body: string,
    method: string,
    path: string,
  ) {
    super(`${method} ${path}: HTTP ${code}`);
    this.name = "KubeHttpError";
  }
}

/** The HTTP status of a failed API call, or undefined for a transport failure. */
export function statusOf(err: unknown): number | undefined {
  if (err instanceof KubeHttpError) return err.code;
  const code =
    (err as { code?: unknown; statusCode?: unknown })?.code ?? (err as { statusCode?: unknown })?.statusCode;
  return typeof code === "number" ? code : undefined;
}

/** The API server's own message (Status.message) for a failed call, else the error text. */
export function messageOf(err: unknown): string {
  if (err instanceof KubeHttpError) {
    const body: unknown = err.body;
    if (typeof body === "string") {
      try {
        const parsed = JSON.parse(body) as { message?: string };
        if (parsed.message) return parsed.message;
      } catch {
        return body.slice(0, 300);
      }
    }
    if (body && typeof body === "object" && "message" in body)
      return String((body as { message: unknown }).message);
    return `HTTP ${err.code}`;
  }
  if (err instanceof Error) {
    const cause = (err.cause as { code?: string } | undefined)?.code;
    return cause ? `${err.message} (${cause})` : err.message;
  }
  return String(err);
}

/** 429, 5xx and transport failures are worth retrying; other 4xx are answers. */
export function isRetryable(err: unknown): boolean {
  if (fenceDown()) return false;
  const status = statusOf(err);
  return status === undefined || status === 429 || status >= 500;
}

export interface RetryOptions {
  log: Logger;
  attempts?: number;
  initialMs?: number;
  maxMs?: number;
}

/** Retries an API call on 429/5xx/connection loss with jittered exponential backoff. */
export async function withRetry<T>(what: string, fn: () => Promise<T>, options: RetryOptions): Promise<T> {
  const attempts = options.attempts ?? 5;
  let delay = options.initialMs ?? 200;
  for (let attempt = 1; ; attempt++) {
    try {
      return await fn();
    } catch (err) {
      if (attempt >= attempts || !isRetryable(err)) throw err;
      const wait = delay * (0.5 + Math.random());
      options.log.debug(
        { attempt, status: statusOf(err), waitMs: Math.round(wait) },
        `${what}: ${messageOf(err)}; retrying`,
      );
      await new Promise((r) => setTimeout(r, wait));
      delay = Math.min(delay * 2, options.maxMs ?? 5_000);
    }
  }
}
