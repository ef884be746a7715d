import {
  ApiException,
  KubeConfig,
  ServerConfiguration,
  createConfiguration,
  type RequestContext,
  type ResponseContext,
} from "@kubernetes/client-node";
import type { Logger } from "pino";
import type https from "node:https";
import { Agent, type Dispatcher } from "undici";
import { version } from "../base/version.ts";
import { fenceDown, fenceInterceptor, requestTimeout } from "./fence.ts";

export const USER_AGENT = `regcred/${version()}`;

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

type ApiConstructor<T> = new (config: ReturnType<typeof createConfiguration>) => T;

const dispatchers = new WeakMap<KubeConfig, Promise<Dispatcher | undefined>>();

/**
 * One connection pool per cluster. client-node builds a new undici Agent for every request,
 * so every call paid a TLS handshake and left an idle socket behind: at 1,000 Secrets that
 * was 3x the time of a plain keep-alive loop and hundreds of MB of sockets. The TLS settings
 * come from the kubeconfig once; the bearer token is still read per request, so rotated
 * ServiceAccount tokens keep working. Proxied clusters keep client-node's own dispatcher.
 */
export function sharedDispatcher(kc: KubeConfig): Promise<Dispatcher | undefined> {
  let pending = dispatchers.get(kc);
  if (!pending) {
    pending = (async () => {
      if (kc.getCurrentCluster()?.proxyUrl) return undefined;
      const opts: https.RequestOptions = {};
      await kc.applyToHTTPSOptions(opts);
      const connect: Record<string, unknown> = {};
      for (const key of [
        "ca",
        "cert",
        "key",
        "pfx",
        "passphrase",
        "servername",
        "rejectUnauthorized",
      ] as const) {
        if (opts[key] !== undefined) connect[key] = opts[key];
      }
      return new Agent({ connect, connections: 64, keepAliveTimeout: 30_000 }).compose(fenceInterceptor);
    })();
    dispatchers.set(kc, pending);
  }
  return pending;
}

/**
 * An API client whose every request has a deadline: a hung connection to the API server must
 * not wedge a write, and the caller's retry takes over.
 */
export function makeApi<T>(kc: KubeConfig, Api: ApiConstructor<T>, timeoutMs = 30_000): T {
  const cluster = kc.getCurrentCluster();
  if (!cluster) throw new Error("no active cluster in kubeconfig");
  const config = createConfiguration({
    baseServer: new ServerConfiguration(cluster.server, {}),
    authMethods: { default: kc },
    promiseMiddleware: [
      {
        pre: async (ctx: RequestContext) => {
          const dispatcher = await sharedDispatcher(kc);
          if (dispatcher) ctx.setDispatcher(dispatcher);
          ctx.setHeaderParam("User-Agent", USER_AGENT);
          ctx.setSignal(requestTimeout(timeoutMs));
          return ctx;
        },
        post: async (res: ResponseContext) => res,
      },
    ],
  });
  return new Api(config);
}

/** A failed API call, shaped like client-node's ApiException (code, body) for statusOf/messageOf. */
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
  if (err instanceof ApiException || err instanceof KubeHttpError) return err.code;
  const code =
    (err as { code?: unknown; statusCode?: unknown })?.code ?? (err as { statusCode?: unknown })?.statusCode;
  return typeof code === "number" ? code : undefined;
}

/** The API server's own message (Status.message) for a failed call, else the error text. */
export function messageOf(err: unknown): string {
  if (err instanceof ApiException || err instanceof KubeHttpError) {
    const body = err.body as unknown;
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
