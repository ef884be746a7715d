// A transparent TLS proxy in front of the real API server, one per daemon process, that records
// what that process wrote as the API server answered it. The rig's API server has no audit log,
// and a SIGKILLed process takes its own counters with it: the wire is the only honest witness.
import { Agent, createServer, request, type Server } from "node:https";
import type { IncomingMessage, ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { readFileSync } from "node:fs";

export type WriteResource = "secrets" | "serviceaccounts" | "events" | "leases" | "other";

export interface WireWrite {
  /** When the request reached the proxy (ms epoch). */
  at: number;
  /** When the API server's answer came back (ms epoch); undefined when it never did. */
  answeredAt: number | undefined;
  method: string;
  resource: WriteResource;
  namespace: string | undefined;
  status: number | undefined;
}

export interface LeaseWrite {
  at: number;
  answeredAt: number;
  status: number;
  /** spec.holderIdentity the write asked for; "" for a release. */
  holder: string;
}

const MUTATING = new Set(["POST", "PUT", "PATCH", "DELETE"]);

/** Which resource a request path names, and in which namespace. */
export function classifyPath(path: string): { resource: WriteResource; namespace: string | undefined } {
  const p = path.split("?")[0]!;
  const core = /^\/api\/v1\/namespaces\/([^/]+)\/(secrets|serviceaccounts|events)(?:\/|$)/.exec(p);
  if (core) return { resource: core[2] as WriteResource, namespace: core[1] };
  const events = /^\/apis\/events\.k8s\.io\/v1\/namespaces\/([^/]+)\/events(?:\/|$)/.exec(p);
  if (events) return { resource: "events", namespace: events[1] };
  const lease = /^\/apis\/coordination\.k8s\.io\/v1\/namespaces\/([^/]+)\/leases(?:\/|$)/.exec(p);
  if (lease) return { resource: "leases", namespace: lease[1] };
  return { resource: "other", namespace: undefined };
}

export class ApiProxy {
  readonly writes: WireWrite[] = [];
  readonly leaseWrites: LeaseWrite[] = [];
  private readonly upstream: URL;
  private readonly agent: Agent;
  private server: Server | null = null;

  constructor(
    upstream: string,
    upstreamCa: string,
    private readonly tls: { certFile: string; keyFile: string },
  ) {
    this.upstream = new URL(upstream);
    this.agent = new Agent({ keepAlive: true, ca: upstreamCa, maxSockets: 128 });
  }

  get url(): string {
    return `https://127.0.0.1:${(this.server!.address() as AddressInfo).port}`;
  }

  async start(): Promise<this> {
    this.server = createServer(
      { cert: readFileSync(this.tls.certFile), key: readFileSync(this.tls.keyFile) },
      (req, res) => this.forward(req, res),
    );
    await new Promise<void>((resolve) => this.server!.listen(0, "127.0.0.1", resolve));
    return this;
  }

  async stop(): Promise<void> {
    this.server?.closeAllConnections();
    await new Promise<void>((resolve) => (this.server ? this.server.close(() => resolve()) : resolve()));
    this.agent.destroy();
  }

  private forward(req: IncomingMessage, res: ServerResponse): void {
    const at = Date.now();
    const method = req.method ?? "GET";
    const path = req.url ?? "/";
    const { resource, namespace } = classifyPath(path);
    const write: WireWrite | undefined = MUTATING.has(method)
      ? { at, answeredAt: undefined, method, resource, namespace, status: undefined }
      : undefined;
    if (write) this.writes.push(write);
    const leaseBody: Buffer[] | undefined =
      write && resource === "leases" && method !== "DELETE" ? [] : undefined;

    const up = request(
      {
        host: this.upstream.hostname,
        port: this.upstream.port,
        method,
        path,
        headers: { ...req.headers, host: this.upstream.host },
        agent: this.agent,
      },
      (upRes) => {
        const answeredAt = Date.now();
        if (write) {
          write.answeredAt = answeredAt;
          write.status = upRes.statusCode;
        }
        if (leaseBody) this.recordLease(at, answeredAt, upRes.statusCode ?? 0, Buffer.concat(leaseBody));
        res.writeHead(upRes.statusCode ?? 502, upRes.headers);
        upRes.pipe(res);
        // An API server that goes away mid-watch must look like one to the client.
        upRes.on("aborted", () => res.destroy());
        upRes.on("error", () => res.destroy());
      },
    );
    // Connection refused (API server stopped): the client sees its connection fail, as it would.
    up.on("error", () => res.destroy());
    req.on("data", (chunk: Buffer) => leaseBody?.push(chunk));
    req.pipe(up);
    res.on("close", () => {
      if (!res.writableFinished) up.destroy();
    });
  }

  private recordLease(at: number, answeredAt: number, status: number, body: Buffer): void {
    let holder = "";
    try {
      const parsed = JSON.parse(body.toString("utf8")) as { spec?: { holderIdentity?: string } };
      holder = parsed.spec?.holderIdentity ?? "";
    } catch {
      // a patch in another format: the holder is unknown, recorded as a release-like write
    }
    this.leaseWrites.push({ at, answeredAt, status, holder });
  }
}
