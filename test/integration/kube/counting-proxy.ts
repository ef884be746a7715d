// A plain-HTTP reverse proxy in front of the rig's real API server, for one client (regcred) to
// talk through. It records every request (method, path, query) and the type and
// resourceVersion of every watch event the server sent back, so tests count lists and watches
// from the wire rather than from log lines. It can also hold back watch events for a while: the
// real server still answers every request, regcred's caches just learn late, which is how a
// real race between regcred and another writer is made to happen on purpose.
import { createServer, type Server } from "node:http";
import { request as httpsRequest } from "node:https";
import type { AddressInfo } from "node:net";
import { KubeConfig } from "@kubernetes/client-node";
import type { ClusterClient } from "../../rig/cluster.ts";

export interface SeenRequest {
  method: string;
  path: string;
  query: URLSearchParams;
  watch: boolean;
  status?: number;
  /** The Accept header the client sent. */
  accept?: string;
  /** Whether the answer carried a `data` field: a whole object, a list item, a watch event's. */
  carriedData: boolean;
  /** Watch responses: each event's type and resourceVersion, in order. */
  events: Array<{ type: string; resourceVersion?: string; code?: number }>;
}

/** Whether a decoded answer (an object, a list, a watch event) holds an object with `data`. */
function hasData(body: unknown): boolean {
  if (typeof body !== "object" || body === null) return false;
  const o = body as { data?: unknown; items?: unknown[]; object?: unknown };
  return o.data !== undefined || (o.items ?? []).some(hasData) || hasData(o.object);
}

export class CountingProxy {
  readonly requests: SeenRequest[] = [];
  private holding: ((path: string) => boolean) | null = null;
  private readonly held: Array<() => void> = [];

  private constructor(
    private readonly server: Server,
    private readonly cluster: ClusterClient,
  ) {}

  static async start(cluster: ClusterClient): Promise<CountingProxy> {
    const target = new URL(cluster.server);
    const self: { proxy?: CountingProxy } = {};
    const server = createServer((req, res) => {
      const url = new URL(req.url ?? "/", "http://proxy");
      const seen: SeenRequest = {
        method: req.method ?? "GET",
        path: url.pathname,
        query: url.searchParams,
        watch: url.searchParams.get("watch") === "true" || url.searchParams.get("watch") === "1",
        ...(req.headers.accept ? { accept: req.headers.accept } : {}),
        carriedData: false,
        events: [],
      };
      self.proxy!.requests.push(seen);
      const upstream = httpsRequest(
        {
          host: target.hostname,
          port: target.port,
          method: req.method,
          path: req.url,
          headers: { ...req.headers, host: target.host },
          ca: cluster.caData,
        },
        (up) => {
          seen.status = up.statusCode;
          res.writeHead(up.statusCode ?? 502, up.headers);
          if (!seen.watch) {
            const chunks: Buffer[] = [];
            up.on("data", (c: Buffer) => chunks.push(c));
            up.on("end", () => {
              try {
                seen.carriedData = hasData(JSON.parse(Buffer.concat(chunks).toString()));
              } catch {
                // not JSON
              }
            });
            up.pipe(res);
            return;
          }
          let partial = "";
          up.setEncoding("utf8");
          up.on("data", (chunk: string) => {
            partial += chunk;
            let nl: number;
            while ((nl = partial.indexOf("\n")) >= 0) {
              const line = partial.slice(0, nl + 1);
              partial = partial.slice(nl + 1);
              const forward = () => {
                try {
                  const ev = JSON.parse(line) as {
                    type: string;
                    object?: { code?: number; metadata?: { resourceVersion?: string } };
                  };
                  if (hasData(ev)) seen.carriedData = true;
                  seen.events.push({
                    type: ev.type,
                    ...(ev.object?.metadata?.resourceVersion
                      ? { resourceVersion: ev.object.metadata.resourceVersion }
                      : {}),
                    ...(ev.object?.code !== undefined ? { code: ev.object.code } : {}),
                  });
                } catch {
                  // not JSON: forward as is
                }
                res.write(line);
              };
              if (self.proxy!.holding?.(seen.path)) self.proxy!.held.push(forward);
              else forward();
            }
          });
          up.on("end", () => {
            const finish = () => res.end();
            if (self.proxy!.holding?.(seen.path)) self.proxy!.held.push(finish);
            else finish();
          });
        },
      );
      upstream.on("error", () => res.destroy());
      res.on("close", () => upstream.destroy());
      req.pipe(upstream);
    });
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    self.proxy = new CountingProxy(server, cluster);
    return self.proxy;
  }

  get url(): string {
    return `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
  }

  /** A KubeConfig that reaches the API server through this proxy with the given token. */
  kubeConfig(token: string): KubeConfig {
    const kc = new KubeConfig();
    // Plain HTTP to the proxy on loopback (client-node allows http only with this flag set);
    // the proxy checks the API server's certificate against the rig's CA.
    kc.loadFromOptions({
      clusters: [{ name: "proxied", server: this.url, skipTLSVerify: true }],
      users: [{ name: "proxied", token }],
      contexts: [{ name: "proxied", cluster: "proxied", user: "proxied" }],
      currentContext: "proxied",
    });
    return kc;
  }

  /** Holds back watch events (and watch ends) on paths matching, until release(). */
  hold(paths: (path: string) => boolean): void {
    this.holding = paths;
  }

  release(): void {
    this.holding = null;
    for (const f of this.held.splice(0)) f();
  }

  lists(path: string): SeenRequest[] {
    return this.requests.filter((r) => r.method === "GET" && !r.watch && r.path === path);
  }

  watches(path: string): SeenRequest[] {
    return this.requests.filter((r) => r.watch && r.path === path);
  }

  async stop(): Promise<void> {
    this.release();
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }
}
