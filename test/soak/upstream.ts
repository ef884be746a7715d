// The soak's credential source: the GitHub App fake (it checks the App JWT as GitHub does and
// mints installation tokens with an explicit expires_at), here minting 60-90 s tokens, behind a
// front that can be switched into an outage and counts every call that reached "GitHub".
import { generateKeyPairSync } from "node:crypto";
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { FakeGitHub, type FakeApp } from "../providers/ghcr/fake-github.ts";

export const APP_ID = 424242;
export const INSTALLATION_ID = 7;

export interface UpstreamCall {
  at: number;
  path: string;
  status: number;
  /** Answered by the outage, not by the fake. */
  outage: boolean;
}

export class Upstream {
  readonly github = new FakeGitHub();
  readonly calls: UpstreamCall[] = [];
  readonly privateKeyPem: string;
  private outage = false;
  private server: Server | null = null;
  private readonly expiries = new Map<string, number>();
  private indexed = 0;

  constructor(
    private readonly lifetimeMs: { min: number; max: number },
    random: () => number = Math.random,
  ) {
    const { publicKey, privateKey } = generateKeyPairSync("rsa", { modulusLength: 2048 });
    this.privateKeyPem = privateKey.export({ type: "pkcs1", format: "pem" }).toString();
    const span = lifetimeMs.max - lifetimeMs.min;
    const app: FakeApp = {
      appId: APP_ID,
      publicKey,
      installations: new Map([[INSTALLATION_ID, { permissions: { packages: "read" }, repositories: [] }]]),
      // Read by the fake at every mint: each token gets its own lifetime in [min, max].
      get tokenLifetimeMs() {
        return lifetimeMs.min + Math.round(random() * span);
      },
    };
    this.github.app = app;
  }

  /** The API base regcred is configured with (the front, not the fake itself). */
  get url(): string {
    return `http://127.0.0.1:${(this.server!.address() as AddressInfo).port}`;
  }

  get down(): boolean {
    return this.outage;
  }

  setOutage(down: boolean): void {
    this.outage = down;
  }

  /** When a token the fake minted stops being valid (ms epoch), or undefined if it never minted it. */
  expiryOf(token: string): number | undefined {
    const minted = this.github.minted;
    for (; this.indexed < minted.length; this.indexed++) {
      const m = minted[this.indexed]!;
      this.expiries.set(m.token, Date.parse(m.expiresAt));
    }
    return this.expiries.get(token);
  }

  /** Whether GitHub would accept the token now: minted by the fake and not past its expires_at. */
  isLive(token: string, now = Date.now()): boolean {
    const expiry = this.expiryOf(token);
    return expiry !== undefined && now < expiry;
  }

  /** The newest token the fake minted that has expired by now, if any. */
  newestExpired(now = Date.now()): string | undefined {
    for (let i = this.github.minted.length - 1; i >= 0; i--) {
      const m = this.github.minted[i]!;
      if (Date.parse(m.expiresAt) <= now) return m.token;
    }
    return undefined;
  }

  async start(): Promise<this> {
    await this.github.start();
    this.server = createServer((req, res) => void this.handle(req, res));
    await new Promise<void>((resolve) => this.server!.listen(0, "127.0.0.1", resolve));
    return this;
  }

  async stop(): Promise<void> {
    this.server?.closeAllConnections();
    await new Promise<void>((resolve) => (this.server ? this.server.close(() => resolve()) : resolve()));
    await this.github.stop();
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const chunks: Buffer[] = [];
    for await (const c of req) chunks.push(c as Buffer);
    const path = req.url ?? "/";
    const at = Date.now();
    if (this.outage) {
      this.calls.push({ at, path, status: 503, outage: true });
      res.writeHead(503, { "content-type": "application/json; charset=utf-8" });
      res.end(JSON.stringify({ message: "Service Unavailable" }));
      return;
    }
    const headers: Record<string, string> = {};
    for (const [k, v] of Object.entries(req.headers)) {
      if (typeof v === "string" && !["host", "connection", "content-length"].includes(k)) headers[k] = v;
    }
    try {
      const body = chunks.length ? Buffer.concat(chunks) : undefined;
      const r = await fetch(this.github.url + path, {
        method: req.method ?? "GET",
        headers,
        ...(body && req.method !== "GET" ? { body } : {}),
      });
      const text = await r.text();
      this.calls.push({ at, path, status: r.status, outage: false });
      const out: Record<string, string> = {};
      r.headers.forEach((v, k) => {
        if (!["content-length", "content-encoding", "transfer-encoding", "connection"].includes(k))
          out[k] = v;
      });
      res.writeHead(r.status, out);
      res.end(text);
    } catch (e) {
      this.calls.push({ at, path, status: 502, outage: false });
      res.writeHead(502).end(String(e));
    }
  }
}
