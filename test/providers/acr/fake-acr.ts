// A local stand-in for the ACR token server's /oauth2/exchange. One server plays several
// registries: the provider's injected exchangeUrl(registry) puts the registry in the path.
// It checks what ACR checks: the form fields, that the access token is one the (fake) Entra
// issued for an audience ACR accepts and is still valid, and that tenant matches the token's.
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import { generateKeyPairSync, randomUUID } from "node:crypto";
import { signJwt, type FakeEntra } from "./fake-entra.ts";

export const ACR_AUDIENCES = ["https://containerregistry.azure.net", "https://management.azure.com"];

export interface ExchangeRequest {
  registry: string;
  contentType: string;
  form: Record<string, string>;
}

export interface IssuedRefreshToken {
  registry: string;
  token: string;
  exp: number;
}

type Override = (registry: string, res: ServerResponse) => boolean;

export class FakeAcr {
  readonly requests: ExchangeRequest[] = [];
  readonly issued: IssuedRefreshToken[] = [];
  /** Seconds a refresh token lives (real ACR: about 3 h). */
  refreshLifetime = 3 * 3600;
  /** Answers instead of the real logic when it returns true (error injection). */
  override: Override | null = null;
  private readonly key = generateKeyPairSync("rsa", { modulusLength: 2048 }).privateKey;
  private readonly server: Server;
  port = 0;

  private constructor(
    private readonly entra: FakeEntra,
    readonly registries: readonly string[],
  ) {
    this.server = createServer((req, res) => void this.handle(req, res));
  }

  static async start(entra: FakeEntra, registries: readonly string[]): Promise<FakeAcr> {
    const acr = new FakeAcr(entra, registries);
    await new Promise<void>((resolve) => acr.server.listen(0, "127.0.0.1", resolve));
    acr.port = (acr.server.address() as { port: number }).port;
    return acr;
  }

  exchangeUrl = (registry: string): string => `http://127.0.0.1:${this.port}/${registry}/oauth2/exchange`;

  close(): Promise<void> {
    this.server.closeAllConnections();
    return new Promise((resolve) => this.server.close(() => resolve()));
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    let body = "";
    for await (const chunk of req) body += String(chunk);
    const m = /^\/([^/]+)\/oauth2\/exchange$/.exec(new URL(req.url ?? "/", "http://x").pathname);
    if (req.method !== "POST" || !m || !this.registries.includes(m[1]!))
      return error(res, 404, "NOT_FOUND", "no such endpoint");
    const registry = m[1]!;
    const form = Object.fromEntries(new URLSearchParams(body));
    const contentType = req.headers["content-type"] ?? "";
    this.requests.push({ registry, contentType, form });
    if (this.override?.(registry, res)) return;

    if (!contentType.startsWith("application/x-www-form-urlencoded"))
      return error(res, 400, "UNSUPPORTED", "expected a form");
    if (form["grant_type"] !== "access_token")
      return error(res, 400, "UNSUPPORTED", `grant_type ${form["grant_type"]}`);
    if (form["service"] !== registry)
      return error(res, 400, "DENIED", `service ${form["service"]} is not ${registry}`);
    const issued = this.entra.issued.get(form["access_token"] ?? "");
    if (!issued) return error(res, 401, "UNAUTHORIZED", "the access token was not issued by Entra ID");
    if (issued.expiresAt <= Date.now())
      return error(res, 401, "UNAUTHORIZED", "the access token has expired");
    if (!ACR_AUDIENCES.includes(issued.audience))
      return error(res, 401, "UNAUTHORIZED", `audience ${issued.audience}`);
    if (form["tenant"] !== undefined && form["tenant"] !== issued.tenant) {
      return error(res, 401, "UNAUTHORIZED", `tenant ${form["tenant"]} does not match the token's`);
    }

    const now = Math.floor(Date.now() / 1000);
    const exp = now + this.refreshLifetime;
    const token = signJwt(
      { alg: "RS256", typ: "JWT" },
      {
        jti: randomUUID(),
        sub: issued.clientId,
        nbf: now,
        exp,
        iat: now,
        iss: "Azure Container Registry",
        aud: registry,
        version: "1.0",
        grant_type: "refresh_token",
        tenant: issued.tenant,
        permissions: { actions: ["read"], notActions: [] },
        roles: [],
      },
      this.key,
    );
    this.issued.push({ registry, token, exp });
    res.setHeader("content-type", "application/json; charset=utf-8");
    res.end(JSON.stringify({ refresh_token: token }));
  }
}

export function error(res: ServerResponse, status: number, code: string, message: string): void {
  res.statusCode = status;
  res.setHeader("content-type", "application/json; charset=utf-8");
  res.end(JSON.stringify({ errors: [{ code, message }] }));
}
