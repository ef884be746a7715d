import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import { randomBytes, verify, type KeyObject } from "node:crypto";
import type { AddressInfo } from "node:net";

/**
 * A local stand-in for the GitHub REST API, checking what GitHub checks:
 * - GET {prefix}/ authenticates a PAT: the Authorization header must be exactly
 *   "Bearer <PAT>" (or "token <PAT>") for a PAT it knows, else 401 Bad credentials; a good
 *   one gets GitHub-Authentication-Token-Expiration and X-OAuth-Scopes as configured.
 * - POST {prefix}/app/installations/{id}/access_tokens authenticates an App JWT: RS256
 *   signature under the App's public key, iat no more than ~60 s in the past and not in the
 *   future, exp after now and at most 10 minutes after iat, iss the App ID or client ID; then
 *   checks the requested permissions and repositories against the installation, and answers
 *   201 {token, expires_at, permissions, repository_selection[, repositories]}.
 * Every answer carries an x-github-request-id. Failures can be queued to imitate rate limits.
 */
export interface FakePat {
  /** Header value, e.g. "2026-12-31 23:59:59 UTC"; omitted = token without expiry. */
  expiration?: string;
  /** X-OAuth-Scopes value; omitted = header not sent (as for fine-grained PATs). */
  scopes?: string;
}

export interface FakeApp {
  appId: number;
  clientId?: string;
  publicKey: KeyObject;
  installations: Map<number, { permissions: Record<string, string>; repositories: string[] }>;
  /** Lifetime of minted tokens (GitHub: 1 h). */
  tokenLifetimeMs?: number;
}

interface Canned {
  status: number;
  headers?: Record<string, string>;
  body: unknown;
}

export interface Minted {
  token: string;
  expiresAt: string;
  jwt: string;
  body: { permissions?: unknown; repositories?: unknown };
  /** When it was minted, on the fake's clock. */
  at: number;
}

export class FakeGitHub {
  readonly pats = new Map<string, FakePat>();
  app: FakeApp | null = null;
  /** The fake's clock runs this far ahead of the test's (clock-skew tests). */
  clockOffsetMs = 0;
  readonly requests: Array<{ method: string; path: string; authorization: string | undefined }> = [];
  readonly minted: Minted[] = [];
  readonly rejectedJwts: string[] = [];
  private readonly queued: Canned[] = [];
  private server: Server | null = null;
  private seq = 0;

  constructor(private readonly prefix = "") {}

  get url(): string {
    const { port } = this.server!.address() as AddressInfo;
    return `http://127.0.0.1:${port}${this.prefix}`;
  }

  /** The next request gets this answer instead of the real handling. */
  failNext(status: number, body: unknown, headers: Record<string, string> = {}): void {
    this.queued.push({ status, body, headers });
  }

  async start(): Promise<this> {
    this.server = createServer((req, res) => void this.handle(req, res));
    await new Promise<void>((resolve) => this.server!.listen(0, "127.0.0.1", resolve));
    return this;
  }

  async stop(): Promise<void> {
    this.server?.closeAllConnections();
    await new Promise<void>((resolve) => this.server?.close(() => resolve()) ?? resolve());
  }

  private now(): number {
    return Date.now() + this.clockOffsetMs;
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const chunks: Buffer[] = [];
    for await (const c of req) chunks.push(c as Buffer);
    const raw = Buffer.concat(chunks).toString("utf8");
    const path = req.url ?? "/";
    this.requests.push({ method: req.method ?? "", path, authorization: req.headers.authorization });
    const send = (c: Canned) => {
      res.writeHead(c.status, {
        "content-type": "application/json; charset=utf-8",
        "x-github-request-id": `FAKE:${++this.seq}:${randomBytes(4).toString("hex").toUpperCase()}`,
        date: new Date(this.now()).toUTCString(),
        ...c.headers,
      });
      res.end(JSON.stringify(c.body));
    };
    const queued = this.queued.shift();
    if (queued) return send(queued);
    if (req.headers["user-agent"] === undefined) {
      return send({
        status: 403,
        body: {
          message:
            "Request forbidden by administrative rules. Please make sure your request has a User-Agent header",
        },
      });
    }
    if (req.method === "GET" && path === `${this.prefix}/`) return send(this.root(req.headers.authorization));
    const m = new RegExp(`^${this.prefix}/app/installations/(\\d+)/access_tokens$`).exec(path);
    if (req.method === "POST" && m)
      return send(this.accessToken(Number(m[1]), req.headers.authorization, raw));
    send({ status: 404, body: { message: "Not Found", documentation_url: "https://docs.github.com/rest" } });
  }

  private root(authorization: string | undefined): Canned {
    const token = /^(?:Bearer|token) (\S+)$/.exec(authorization ?? "")?.[1];
    const pat = token === undefined ? undefined : this.pats.get(token);
    if (!pat) return badCredentials();
    const headers: Record<string, string> = {};
    if (pat.expiration !== undefined) headers["github-authentication-token-expiration"] = pat.expiration;
    if (pat.scopes !== undefined) headers["x-oauth-scopes"] = pat.scopes;
    return { status: 200, headers, body: { current_user_url: `${this.url}/user` } };
  }

  private accessToken(installationId: number, authorization: string | undefined, raw: string): Canned {
    const app = this.app;
    const jwt = /^Bearer (\S+)$/.exec(authorization ?? "")?.[1];
    if (!app || !jwt) return { status: 401, body: { message: "A JSON web token could not be decoded" } };
    const problem = this.checkJwt(app, jwt);
    if (problem) {
      this.rejectedJwts.push(jwt);
      return { status: 401, body: { message: problem, documentation_url: "https://docs.github.com/rest" } };
    }
    const installation = app.installations.get(installationId);
    if (!installation)
      return {
        status: 404,
        body: { message: "Not Found", documentation_url: "https://docs.github.com/rest" },
      };
    let body: { permissions?: Record<string, string>; repositories?: string[] };
    try {
      body = raw === "" ? {} : (JSON.parse(raw) as typeof body);
    } catch {
      return { status: 400, body: { message: "Problems parsing JSON" } };
    }
    const permissions = body.permissions ?? installation.permissions;
    for (const [name, level] of Object.entries(permissions)) {
      const granted = installation.permissions[name];
      if (granted === undefined || (level === "write" && granted !== "write")) {
        return {
          status: 422,
          body: { message: "The permissions requested are not granted to this installation." },
        };
      }
    }
    if (body.repositories?.some((r) => !installation.repositories.includes(r))) {
      return {
        status: 422,
        body: {
          message:
            "There is at least one repository that does not exist or is not accessible to the parent installation.",
        },
      };
    }
    const token = `ghs_${randomBytes(18).toString("base64url")}`;
    const expiresAt = new Date(this.now() + (app.tokenLifetimeMs ?? 3_600_000))
      .toISOString()
      .replace(/\.\d{3}Z$/, "Z");
    this.minted.push({ token, expiresAt, jwt, body, at: this.now() });
    return {
      status: 201,
      body: {
        token,
        expires_at: expiresAt,
        permissions,
        repository_selection: body.repositories ? "selected" : "all",
        ...(body.repositories
          ? {
              repositories: body.repositories.map((name, i) => ({
                id: 1000 + i,
                name,
                full_name: `acme/${name}`,
              })),
            }
          : {}),
      },
    };
  }

  /** GitHub's own wording for each rejection. */
  private checkJwt(app: FakeApp, jwt: string): string | null {
    const parts = jwt.split(".");
    if (parts.length !== 3) return "A JSON web token could not be decoded";
    const [h, p, s] = parts as [string, string, string];
    let header: { alg?: string };
    let payload: { iat?: unknown; exp?: unknown; iss?: unknown };
    try {
      header = JSON.parse(Buffer.from(h, "base64url").toString("utf8")) as typeof header;
      payload = JSON.parse(Buffer.from(p, "base64url").toString("utf8")) as typeof payload;
    } catch {
      return "A JSON web token could not be decoded";
    }
    if (header.alg !== "RS256") return "A JSON web token could not be decoded";
    if (!verify("sha256", Buffer.from(`${h}.${p}`), app.publicKey, Buffer.from(s, "base64url"))) {
      return "A JSON web token could not be decoded";
    }
    const now = Math.floor(this.now() / 1000);
    const { iat, exp, iss } = payload;
    if (typeof iat !== "number" || !Number.isInteger(iat) || iat > now || iat < now - 65) {
      return "'Issued at' claim ('iat') must be an Integer representing the time that the assertion was issued.";
    }
    if (typeof exp !== "number" || exp <= now) {
      return "'Expiration time' claim ('exp') must be a numeric value representing the future time at which the assertion expires.";
    }
    if (exp - iat > 600) return "'Expiration time' claim ('exp') is too far in the future.";
    if (
      iss !== app.appId &&
      iss !== String(app.appId) &&
      (app.clientId === undefined || iss !== app.clientId)
    ) {
      return "'Issuer' claim ('iss') must be an Integer or the App's client ID";
    }
    return null;
  }
}

function badCredentials(): Canned {
  return {
    status: 401,
    body: { message: "Bad credentials", documentation_url: "https://docs.github.com/rest" },
  };
}

/** A GitHub-looking classic PAT. */
export function classicPat(): string {
  return `ghp_${randomBytes(27).toString("base64url").slice(0, 36)}`;
}

/** GitHub's expiration header form: "YYYY-MM-DD HH:MM:SS UTC". */
export function expirationHeader(at: Date): string {
  return at
    .toISOString()
    .replace("T", " ")
    .replace(/\.\d{3}Z$/, " UTC");
}
