// A Docker registry token server (distribution's "token" auth): checks Basic credentials
// exactly (any length, unlike bcrypt's 72 bytes) and issues an RS256 JWT whose header carries
// the signing certificate (x5c); the registry verifies it against its rootcertbundle.
import { createPrivateKey, randomBytes, sign, X509Certificate } from "node:crypto";
import { readFileSync } from "node:fs";
import { createServer, type IncomingMessage, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";

export interface TokenServerOptions {
  /** The registry's service name (its `auth.token.service`), the token's audience. */
  service: string;
  issuer: string;
  /** Certificate + key that sign tokens; the registry trusts the CA that issued the cert. */
  signer: { certFile: string; keyFile: string };
  users: { username: string; password: string }[];
  /** Token lifetime in seconds (default 300). */
  ttlSeconds?: number;
}

export interface TokenRequestLog {
  username: string | undefined;
  ok: boolean;
  scopes: string[];
}

export interface TokenServer {
  /** http://localhost:PORT/token */
  realm: string;
  /** Every token request seen, newest last. */
  readonly requests: TokenRequestLog[];
  setUsers(users: { username: string; password: string }[]): void;
  stop(): Promise<void>;
}

function b64url(data: Buffer | string): string {
  return Buffer.from(data).toString("base64url");
}

export async function startTokenServer(opts: TokenServerOptions): Promise<TokenServer> {
  const cert = new X509Certificate(readFileSync(opts.signer.certFile));
  const key = createPrivateKey(readFileSync(opts.signer.keyFile));
  let users = new Map(opts.users.map((u) => [u.username, u.password]));
  const requests: TokenRequestLog[] = [];
  const ttl = opts.ttlSeconds ?? 300;

  const issue = (subject: string, scopes: string[]): string => {
    const now = Math.floor(Date.now() / 1000);
    const access = scopes.flatMap((s) => {
      // scope = type:name:actions, the name may itself contain ':' (host:port/..): split at ends.
      const first = s.indexOf(":");
      const last = s.lastIndexOf(":");
      if (first < 0 || last <= first) return [];
      return [
        { type: s.slice(0, first), name: s.slice(first + 1, last), actions: s.slice(last + 1).split(",") },
      ];
    });
    const header = { typ: "JWT", alg: "RS256", x5c: [cert.raw.toString("base64")] };
    const claims = {
      iss: opts.issuer,
      sub: subject,
      aud: opts.service,
      exp: now + ttl,
      nbf: now - 10,
      iat: now,
      jti: randomBytes(12).toString("hex"),
      access,
    };
    const signingInput = `${b64url(JSON.stringify(header))}.${b64url(JSON.stringify(claims))}`;
    return `${signingInput}.${b64url(sign("sha256", Buffer.from(signingInput), key))}`;
  };

  const deny = (res: ServerResponse, message: string): void => {
    res.writeHead(401, {
      "Content-Type": "application/json",
      "WWW-Authenticate": `Basic realm="regcred-rig-token-server"`,
    });
    res.end(JSON.stringify({ errors: [{ code: "UNAUTHORIZED", message }] }));
  };

  const handle = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    const url = new URL(req.url ?? "/", "http://127.0.0.1");
    if (url.pathname !== "/token") {
      res.writeHead(404).end();
      return;
    }
    let username: string | undefined;
    let password: string | undefined;
    let scopes = url.searchParams.getAll("scope").flatMap((s) => s.split(" ").filter(Boolean));
    const authz = req.headers.authorization;
    if (authz?.startsWith("Basic ")) {
      const decoded = Buffer.from(authz.slice(6), "base64").toString("utf8");
      const i = decoded.indexOf(":");
      if (i >= 0) {
        username = decoded.slice(0, i);
        password = decoded.slice(i + 1);
      }
    }
    if (req.method === "POST") {
      // OAuth2 form (grant_type=password), as some clients send.
      let body = "";
      for await (const chunk of req) body += String(chunk);
      const form = new URLSearchParams(body);
      if (form.get("grant_type") === "password") {
        username = form.get("username") ?? undefined;
        password = form.get("password") ?? undefined;
      }
      const s = form.get("scope");
      if (s) scopes = s.split(" ").filter(Boolean);
    }
    const ok = username !== undefined && users.has(username) && users.get(username) === password;
    requests.push({ username, ok, scopes });
    if (!ok) {
      deny(res, username === undefined ? "credentials required" : "invalid username or password");
      return;
    }
    const token = issue(username ?? "", scopes);
    res.writeHead(200, { "Content-Type": "application/json" });
    res.end(
      JSON.stringify({ token, access_token: token, expires_in: ttl, issued_at: new Date().toISOString() }),
    );
  };

  const server = createServer((req, res) => {
    handle(req, res).catch((e: unknown) => {
      res.writeHead(500).end(String(e));
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const port = (server.address() as AddressInfo).port;
  return {
    // "localhost", not 127.0.0.1: go-containerregistry >= 0.22 refuses a realm given as a
    // private/loopback IP literal unless it equals the registry's host:port (SSRF guard).
    realm: `http://localhost:${port}/token`,
    requests,
    setUsers(u) {
      users = new Map(u.map((x) => [x.username, x.password]));
    },
    stop: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
