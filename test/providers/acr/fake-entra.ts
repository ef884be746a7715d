// A local Entra ID authority over TLS (MSAL refuses plain-http authorities). It serves what
// MSAL asks for (the tenant's OpenID configuration, the v2.0 token endpoint) and checks what
// Entra checks before issuing a token: the tenant, the client, the scope, and the client's proof
// (a client secret, a certificate-signed assertion, or a federated workload identity assertion).
import { createServer, type Server } from "node:https";
import type { IncomingMessage, ServerResponse } from "node:http";
import {
  createPublicKey,
  createSign,
  createVerify,
  generateKeyPairSync,
  randomUUID,
  constants,
  X509Certificate,
  type KeyObject,
} from "node:crypto";
import { readFileSync } from "node:fs";
import { makeCA, makeServingCert } from "../../rig/certs.ts";

export interface FederatedCredential {
  /** The cluster's OIDC issuer URL. */
  issuer: string;
  subject: string;
  audience: string;
  /** The issuer's signing key, as Entra would fetch it from the issuer's JWKS. */
  issuerKey: KeyObject;
}

export interface EntraApp {
  clientId: string;
  secret?: string;
  /** PEM of the registered certificate (public part). */
  certificate?: string;
  federated?: FederatedCredential;
}

export interface IssuedToken {
  token: string;
  clientId: string;
  tenant: string;
  audience: string;
  expiresAt: number;
}

export interface EntraRequest {
  method: string;
  path: string;
  form: Record<string, string>;
}

const ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";

export class FakeEntra {
  readonly issued = new Map<string, IssuedToken>();
  readonly requests: EntraRequest[] = [];
  /** Seconds an issued token lives. Below MSAL's 5-minute renewal margin, every getToken calls us. */
  tokenLifetime = 240;
  private readonly signingKey = generateKeyPairSync("rsa", { modulusLength: 2048 }).privateKey;
  private server: Server;
  port = 0;

  private constructor(
    readonly tenant: string,
    readonly apps: EntraApp[],
    readonly scopes: readonly string[],
    readonly caPem: string,
    private readonly tls: { cert: Buffer; key: Buffer },
  ) {
    this.server = this.newServer();
  }

  static async start(opts: {
    dir: string;
    tenant: string;
    apps: EntraApp[];
    scopes: readonly string[];
  }): Promise<FakeEntra> {
    const ca = await makeCA(opts.dir, "fake-entra-ca");
    const leaf = await makeServingCert(opts.dir, "fake-entra", ca);
    const entra = new FakeEntra(opts.tenant, opts.apps, opts.scopes, readFileSync(ca.certFile, "utf8"), {
      cert: readFileSync(leaf.certFile),
      key: readFileSync(leaf.keyFile),
    });
    await entra.up();
    return entra;
  }

  get url(): string {
    return `https://127.0.0.1:${this.port}`;
  }

  get tokenEndpoint(): string {
    return `${this.url}/${this.tenant}/oauth2/v2.0/token`;
  }

  /** Listens (again, on the same port after down()). */
  async up(): Promise<void> {
    this.server = this.newServer();
    await new Promise<void>((resolve, reject) => {
      this.server.once("error", reject);
      this.server.listen(this.port, "127.0.0.1", () => resolve());
    });
    this.port = (this.server.address() as { port: number }).port;
  }

  /** Stops answering: new connections are refused, open ones cut. */
  async down(): Promise<void> {
    const closed = new Promise<void>((resolve) => this.server.close(() => resolve()));
    this.server.closeAllConnections();
    await closed;
  }

  tokenRequests(): EntraRequest[] {
    return this.requests.filter((r) => r.path.endsWith("/oauth2/v2.0/token"));
  }

  private newServer(): Server {
    return createServer(this.tls, (req, res) => {
      void this.handle(req, res).catch((err: unknown) => {
        res.statusCode = 500;
        res.end(String(err));
      });
    });
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const body = await readBody(req);
    const url = new URL(req.url ?? "/", this.url);
    const form = req.method === "POST" ? Object.fromEntries(new URLSearchParams(body)) : {};
    this.requests.push({ method: req.method ?? "", path: url.pathname, form });

    const discovery = /^\/([^/]+)\/v2\.0\/\.well-known\/openid-configuration$/.exec(url.pathname);
    if (req.method === "GET" && discovery) {
      if (discovery[1] !== this.tenant)
        return this.fail(res, 400, "invalid_tenant", 90002, `Tenant '${discovery[1]}' not found.`);
      const base = `${this.url}/${this.tenant}`;
      return json(res, 200, {
        token_endpoint: `${base}/oauth2/v2.0/token`,
        authorization_endpoint: `${base}/oauth2/v2.0/authorize`,
        end_session_endpoint: `${base}/oauth2/v2.0/logout`,
        jwks_uri: `${base}/discovery/v2.0/keys`,
        issuer: `${base}/v2.0`,
        response_types_supported: ["code", "id_token", "code id_token", "id_token token"],
        token_endpoint_auth_methods_supported: [
          "client_secret_post",
          "private_key_jwt",
          "client_secret_basic",
        ],
      });
    }

    // MSAL appends ?client-request-id=...: match the path only.
    const token = /^\/([^/]+)\/oauth2\/v2\.0\/token$/.exec(url.pathname);
    if (req.method === "POST" && token)
      return this.token(res, token[1]!, form, req.headers["content-type"] ?? "");

    res.statusCode = 404;
    res.end();
  }

  private token(
    res: ServerResponse,
    tenant: string,
    form: Record<string, string>,
    contentType: string,
  ): void {
    if (tenant !== this.tenant)
      return this.fail(res, 400, "invalid_tenant", 90002, `Tenant '${tenant}' not found.`);
    if (!contentType.startsWith("application/x-www-form-urlencoded")) {
      return this.fail(
        res,
        400,
        "invalid_request",
        900144,
        "The request body must contain the following parameter: 'grant_type'.",
      );
    }
    if (form["grant_type"] !== "client_credentials") {
      return this.fail(
        res,
        400,
        "unsupported_grant_type",
        70003,
        `The app requested an unsupported grant type '${form["grant_type"]}'.`,
      );
    }
    const scope = form["scope"] ?? "";
    if (!this.scopes.includes(scope)) {
      return this.fail(
        res,
        400,
        "invalid_resource",
        500011,
        `The resource principal named ${scope.replace(/\/\.default$/, "")} was not found in the tenant named ${tenant}.`,
      );
    }
    const app = this.apps.find((a) => a.clientId === form["client_id"]);
    if (!app) {
      return this.fail(
        res,
        400,
        "unauthorized_client",
        700016,
        `Application with identifier '${form["client_id"]}' was not found in the directory '${tenant}'.`,
      );
    }
    const problem = this.checkProof(app, form);
    if (problem) return this.fail(res, 401, "invalid_client", problem.code, problem.text);

    const accessToken = this.issue(app.clientId, scope.replace(/\/\.default$/, ""));
    json(res, 200, {
      token_type: "Bearer",
      expires_in: this.tokenLifetime,
      ext_expires_in: this.tokenLifetime,
      access_token: accessToken,
    });
  }

  /** Signs and records an access token, as Entra does once the client has proven itself. */
  issue(clientId: string, audience: string): string {
    const now = Math.floor(Date.now() / 1000);
    const accessToken = signJwt(
      { alg: "RS256", typ: "JWT", kid: "fake-entra" },
      {
        aud: audience,
        iss: `https://sts.windows.net/${this.tenant}/`,
        iat: now,
        nbf: now,
        exp: now + this.tokenLifetime,
        appid: clientId,
        oid: randomUUID(),
        tid: this.tenant,
        ver: "1.0",
      },
      this.signingKey,
    );
    const expiresAt = (now + this.tokenLifetime) * 1000;
    this.issued.set(accessToken, { token: accessToken, clientId, tenant: this.tenant, audience, expiresAt });
    return accessToken;
  }

  /** What Entra verifies about the client's proof; null when it holds. */
  private checkProof(app: EntraApp, form: Record<string, string>): { code: number; text: string } | null {
    const secret = form["client_secret"];
    const assertion = form["client_assertion"];
    if (secret !== undefined) {
      if (app.secret === undefined || secret !== app.secret) {
        return {
          code: 7000215,
          text: `Invalid client secret provided. Ensure the secret being sent in the request is the client secret value, not the client secret ID, for a secret added to app '${app.clientId}'.`,
        };
      }
      return null;
    }
    if (assertion === undefined) {
      return {
        code: 7000218,
        text: "The request body must contain the following parameter: 'client_assertion' or 'client_secret'.",
      };
    }
    if (form["client_assertion_type"] !== ASSERTION_TYPE) {
      return { code: 700026, text: `Client assertion type must be ${ASSERTION_TYPE}.` };
    }
    const jwt = decodeJwt(assertion);
    if (!jwt) return { code: 700027, text: "Client assertion failed signature validation (not a JWT)." };
    const now = Math.floor(Date.now() / 1000);
    const { header, payload } = jwt;

    if (app.federated && payload["iss"] !== app.clientId) {
      // A federated identity credential: a token from an external issuer (the cluster).
      const fic = app.federated;
      if (payload["iss"] !== fic.issuer) {
        return {
          code: 700211,
          text: `No matching federated identity record found for presented assertion issuer '${String(payload["iss"])}'.`,
        };
      }
      if (!verifyJwt(jwt, fic.issuerKey))
        return { code: 700027, text: "Client assertion failed signature validation." };
      if (payload["sub"] !== fic.subject) {
        return {
          code: 700213,
          text: `No matching federated identity record found for presented assertion subject '${String(payload["sub"])}'.`,
        };
      }
      const aud = Array.isArray(payload["aud"]) ? payload["aud"] : [payload["aud"]];
      if (!aud.includes(fic.audience)) {
        return {
          code: 700212,
          text: `No matching federated identity record found for presented assertion audience '${aud.join(",")}'.`,
        };
      }
      return timeProblem(payload, now);
    }

    if (!app.certificate)
      return {
        code: 700027,
        text: "Client assertion failed signature validation (no certificate registered).",
      };
    const cert = new X509Certificate(app.certificate);
    const thumbprint =
      header["x5t#S256"] !== undefined
        ? {
            got: header["x5t#S256"],
            want: Buffer.from(cert.fingerprint256.replace(/:/g, ""), "hex").toString("base64url"),
          }
        : {
            got: header["x5t"],
            want: Buffer.from(cert.fingerprint.replace(/:/g, ""), "hex").toString("base64url"),
          };
    if (thumbprint.got !== thumbprint.want) {
      return {
        code: 700027,
        text: "Client assertion contains an invalid signature. [Reason - The key was not found.]",
      };
    }
    if (!verifyJwt(jwt, cert.publicKey))
      return { code: 700027, text: "Client assertion failed signature validation." };
    if (payload["iss"] !== app.clientId || payload["sub"] !== app.clientId) {
      return {
        code: 700021,
        text: "Client assertion application identifier doesn't match 'client_id' parameter.",
      };
    }
    if (payload["aud"] !== this.tokenEndpoint) {
      return {
        code: 700023,
        text: `Client assertion audience claim does not match Realm issuer (got '${String(payload["aud"])}').`,
      };
    }
    return timeProblem(payload, now);
  }

  private fail(res: ServerResponse, status: number, error: string, code: number, text: string): void {
    const traceId = randomUUID();
    const correlationId = randomUUID();
    const timestamp = new Date()
      .toISOString()
      .replace("T", " ")
      .replace(/\.\d+Z$/, "Z");
    json(res, status, {
      error,
      error_description: `AADSTS${code}: ${text}\r\nTrace ID: ${traceId}\r\nCorrelation ID: ${correlationId}\r\nTimestamp: ${timestamp}`,
      error_codes: [code],
      timestamp,
      trace_id: traceId,
      correlation_id: correlationId,
      error_uri: `${this.url}/error?code=${code}`,
    });
  }

  async close(): Promise<void> {
    if (this.server.listening) await this.down();
  }
}

function timeProblem(payload: Record<string, unknown>, now: number): { code: number; text: string } | null {
  const exp = payload["exp"];
  const nbf = payload["nbf"];
  if (typeof exp !== "number" || exp <= now || (typeof nbf === "number" && nbf > now + 300)) {
    return { code: 700024, text: "Client assertion is not within its valid time range." };
  }
  return null;
}

interface DecodedJwt {
  header: Record<string, unknown>;
  payload: Record<string, unknown>;
  signingInput: string;
  signature: Buffer;
}

export function decodeJwt(token: string): DecodedJwt | null {
  const [h, p, s] = token.split(".");
  if (!h || !p || s === undefined || token.split(".").length !== 3) return null;
  try {
    return {
      header: JSON.parse(Buffer.from(h, "base64url").toString()) as Record<string, unknown>,
      payload: JSON.parse(Buffer.from(p, "base64url").toString()) as Record<string, unknown>,
      signingInput: `${h}.${p}`,
      signature: Buffer.from(s, "base64url"),
    };
  } catch {
    return null;
  }
}

/** RS256 or PS256 (what MSAL signs certificate assertions with), with the given public key. */
function verifyJwt(jwt: DecodedJwt, key: KeyObject): boolean {
  const alg = jwt.header["alg"];
  if (alg !== "RS256" && alg !== "PS256") return false;
  const verify = createVerify("RSA-SHA256").update(jwt.signingInput);
  return alg === "PS256"
    ? verify.verify(
        { key, padding: constants.RSA_PKCS1_PSS_PADDING, saltLength: constants.RSA_PSS_SALTLEN_DIGEST },
        jwt.signature,
      )
    : verify.verify(key, jwt.signature);
}

export function signJwt(header: object, payload: object, key: KeyObject): string {
  const input = `${Buffer.from(JSON.stringify(header)).toString("base64url")}.${Buffer.from(JSON.stringify(payload)).toString("base64url")}`;
  return `${input}.${createSign("RSA-SHA256").update(input).sign(key).toString("base64url")}`;
}

export function publicKeyOf(privateKey: KeyObject): KeyObject {
  return createPublicKey(privateKey);
}

function readBody(req: IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    let body = "";
    req.setEncoding("utf8");
    req.on("data", (chunk: string) => (body += chunk));
    req.on("end", () => resolve(body));
    req.on("error", reject);
  });
}

function json(res: ServerResponse, status: number, body: unknown): void {
  res.statusCode = status;
  res.setHeader("content-type", "application/json; charset=utf-8");
  res.end(JSON.stringify(body));
}
