// A local IBM Cloud IAM token endpoint over TLS (a test CA). IBM's IAM cannot run here; this
// checks what IAM checks before it issues an access token, and answers in IAM's shapes:
// - POST /identity/token only (other methods: 405, BXNIM0060E), form-encoded (else the form
//   is empty and grant_type is "missing or empty", BXNIM0109E);
// - grant urn:ibm:params:oauth:grant-type:apikey: a known API key (else 400 BXNIM0415E);
// - grant urn:ibm:params:oauth:grant-type:cr-token: a compute-resource token that is a JWT
//   signed by a trusted cluster's service-account key, from that cluster's issuer, for audience
//   "iam", not expired, and a profile (profile_id, profile_name or profile_crn) whose link names
//   the token's namespace and service account (else 400 BXNIM0398E, "not eligible").
// Success: {access_token, refresh_token?, token_type, expires_in, expiration, scope}.
//
// Codes and texts are IAM's where public sources show them: BXNIM0415E, BXNIM0109E (with
// errorDetails "Property 'grant_type' either missing or empty."), BXNIM0060E (405),
// BXNIM0398E (trusted profile not eligible). IAM's codes for an unverifiable compute-resource
// token, an unknown profile and an unsupported grant type were not found: those answers keep
// IAM's shape and status 400 with the placeholder code UNSOURCED_CODE.
import { createServer, type Server } from "node:https";
import type { IncomingMessage, ServerResponse } from "node:http";
import { createVerify, generateKeyPairSync, randomBytes, randomUUID, type KeyObject } from "node:crypto";
import { readFileSync } from "node:fs";
import { makeCA, makeServingCert } from "../../rig/certs.ts";
import { signJwt, decodeJwt } from "../acr/fake-entra.ts";

export const APIKEY_GRANT = "urn:ibm:params:oauth:grant-type:apikey";
export const CR_TOKEN_GRANT = "urn:ibm:params:oauth:grant-type:cr-token";
export const UNSOURCED_CODE = "BXNIM0000E";

/** A cluster whose service-account tokens IAM accepts (IKS/ROKS register their issuer and keys). */
export interface TrustedCluster {
  issuer: string;
  keys: KeyObject[];
}

export interface TrustedProfile {
  id: string;
  name: string;
  crn: string;
  /** Compute resources linked to the profile: a cluster's namespace and service account. */
  links: Array<{ issuer: string; namespace: string; serviceAccount: string }>;
}

export interface IamRequestLog {
  at: number;
  method: string;
  path: string;
  contentType: string;
  form: Record<string, string>;
  status: number;
}

export interface IssuedToken {
  token: string;
  subject: string;
  grant: string;
  expiration: number;
}

export type Override = (form: Record<string, string>, res: ServerResponse) => boolean;

export class FakeIam {
  readonly apiKeys = new Map<string, { iamId: string; name: string }>();
  readonly clusters: TrustedCluster[] = [];
  readonly profiles: TrustedProfile[] = [];
  readonly requests: IamRequestLog[] = [];
  readonly issued: IssuedToken[] = [];
  /** Seconds an issued access token lives; IAM issues 3600. */
  tokenLifetime = 3600;
  /** Which expiry fields the success answer carries. */
  expiryFields: "both" | "expires_in" | "expiration" | "none" = "both";
  /** Shift `expiration` against `expires_in` (seconds), to tell which one a client reads. */
  expirationSkew = 0;
  /** Answers instead of the checks when it returns true (outages, throttling, odd bodies). */
  override: Override | null = null;
  readonly accountId = randomBytes(16).toString("hex");
  private readonly signingKey = generateKeyPairSync("rsa", { modulusLength: 2048 }).privateKey;
  private server: Server;
  port = 0;

  private constructor(
    readonly caPem: string,
    private readonly tls: { cert: Buffer; key: Buffer },
  ) {
    this.server = this.newServer();
  }

  static async start(dir: string): Promise<FakeIam> {
    const ca = await makeCA(dir, "fake-iam-ca");
    const leaf = await makeServingCert(dir, "fake-iam", ca);
    const iam = new FakeIam(readFileSync(ca.certFile, "utf8"), {
      cert: readFileSync(leaf.certFile),
      key: readFileSync(leaf.keyFile),
    });
    await iam.up();
    return iam;
  }

  get url(): string {
    return `https://127.0.0.1:${this.port}`;
  }

  tokenRequests(): IamRequestLog[] {
    return this.requests.filter((r) => r.path === "/identity/token");
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

  async close(): Promise<void> {
    if (this.server.listening) await this.down();
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
    const path = new URL(req.url ?? "/", this.url).pathname;
    const contentType = req.headers["content-type"] ?? "";
    // IAM reads the body as a form only when it is declared one.
    const form = contentType.startsWith("application/x-www-form-urlencoded")
      ? Object.fromEntries(new URLSearchParams(body))
      : {};
    const entry: IamRequestLog = {
      at: Date.now(),
      method: req.method ?? "",
      path,
      contentType,
      form,
      status: 0,
    };
    this.requests.push(entry);
    res.on("finish", () => (entry.status = res.statusCode));

    if (path !== "/identity/token") {
      res.statusCode = 404;
      return void res.end();
    }
    if (req.method !== "POST") {
      return this.fail(
        res,
        405,
        "BXNIM0060E",
        "Web application exception 'javax.ws.rs.ClientErrorException' during request processing.",
        "HTTP 405 Method Not Allowed",
      );
    }
    if (this.override?.(form, res)) return;
    const grant = form["grant_type"];
    if (!grant) return this.missing(res, "grant_type");
    if (grant === APIKEY_GRANT) return this.apikey(res, form);
    if (grant === CR_TOKEN_GRANT) return this.crToken(res, form);
    return this.fail(
      res,
      400,
      UNSOURCED_CODE,
      "Unsupported grant type.",
      `Grant type '${grant}' is not supported.`,
    );
  }

  private apikey(res: ServerResponse, form: Record<string, string>): void {
    const key = form["apikey"];
    if (!key) return this.missing(res, "apikey");
    const owner = this.apiKeys.get(key);
    if (!owner) return this.fail(res, 400, "BXNIM0415E", "Provided API key could not be found.");
    this.succeed(res, owner.iamId, APIKEY_GRANT, { refresh: true });
  }

  private crToken(res: ServerResponse, form: Record<string, string>): void {
    const token = form["cr_token"];
    if (!token) return this.missing(res, "cr_token");
    const claims = this.verifyCrToken(token);
    if (typeof claims === "string") {
      return this.fail(res, 400, UNSOURCED_CODE, "Provided compute resource token is invalid.", claims);
    }
    const profile = this.profiles.find(
      (p) =>
        (form["profile_id"] !== undefined && p.id === form["profile_id"]) ||
        (form["profile_crn"] !== undefined && p.crn === form["profile_crn"]) ||
        (form["profile_name"] !== undefined && p.name === form["profile_name"]),
    );
    const asked = form["profile_id"] ?? form["profile_crn"] ?? form["profile_name"];
    if (asked === undefined) return this.missing(res, "profile_id");
    if (!profile)
      return this.fail(
        res,
        400,
        UNSOURCED_CODE,
        "Trusted profile not found.",
        `Profile '${asked}' not found.`,
      );
    const [, namespace, serviceAccount] = /^system:serviceaccount:([^:]+):([^:]+)$/.exec(claims.sub) ?? [];
    const linked = profile.links.some(
      (l) => l.issuer === claims.iss && l.namespace === namespace && l.serviceAccount === serviceAccount,
    );
    if (!linked) {
      return this.fail(
        res,
        400,
        "BXNIM0398E",
        "Selected trusted profile not eligible.",
        `The given token with identifier '${namespace}:${serviceAccount}' is not permitted to assume the indicated trusted profile; profile ID '${profile.id}'.`,
      );
    }
    this.succeed(res, `iam-${profile.id}`, CR_TOKEN_GRANT, { refresh: false });
  }

  /** The token's claims when IAM would accept it; else why not. */
  private verifyCrToken(token: string): { iss: string; sub: string } | string {
    const jwt = decodeJwt(token);
    if (!jwt) return "The compute resource token is not a JWT.";
    const { header, payload } = jwt;
    const keys = this.clusters.filter((c) => c.issuer === payload["iss"]).flatMap((c) => c.keys);
    if (keys.length === 0)
      return `Issuer '${String(payload["iss"])}' is not a trusted compute resource issuer.`;
    if (header["alg"] !== "RS256") return `Signature algorithm '${String(header["alg"])}' is not accepted.`;
    const signed = keys.some((key) =>
      createVerify("RSA-SHA256").update(jwt.signingInput).verify(key, jwt.signature),
    );
    if (!signed) return "The compute resource token signature is invalid.";
    const aud = Array.isArray(payload["aud"]) ? payload["aud"] : [payload["aud"]];
    if (!aud.includes("iam")) return `The compute resource token audience '${aud.join(",")}' is not 'iam'.`;
    const now = Math.floor(Date.now() / 1000);
    const exp = payload["exp"];
    if (typeof exp !== "number" || exp <= now) return "The compute resource token is expired.";
    const nbf = payload["nbf"];
    if (typeof nbf === "number" && nbf > now + 60) return "The compute resource token is not yet valid.";
    if (typeof payload["sub"] !== "string") return "The compute resource token has no subject.";
    return { iss: payload["iss"] as string, sub: payload["sub"] };
  }

  private succeed(res: ServerResponse, iamId: string, grant: string, opts: { refresh: boolean }): void {
    const now = Math.floor(Date.now() / 1000);
    const expiration = now + this.tokenLifetime + this.expirationSkew;
    const token = signJwt(
      { kid: "fake-iam", alg: "RS256" },
      {
        iam_id: iamId,
        id: iamId,
        realmid: "iam",
        sub: iamId,
        sub_type: grant === APIKEY_GRANT ? "ServiceId" : "Profile",
        account: { valid: true, bss: this.accountId },
        iat: now,
        exp: now + this.tokenLifetime,
        iss: "https://iam.cloud.ibm.com/identity",
        grant_type: grant,
        scope: "ibm openid",
        client_id: "default",
        acr: 1,
        amr: ["pwd"],
        jti: randomUUID(),
      },
      this.signingKey,
    );
    this.issued.push({ token, subject: iamId, grant, expiration });
    json(res, 200, {
      access_token: token,
      ...(opts.refresh ? { refresh_token: "not_supported" } : {}),
      token_type: "Bearer",
      ...(this.expiryFields === "both" || this.expiryFields === "expires_in"
        ? { expires_in: this.tokenLifetime }
        : {}),
      ...(this.expiryFields === "both" || this.expiryFields === "expiration" ? { expiration } : {}),
      scope: "ibm openid",
    });
  }

  private missing(res: ServerResponse, property: string): void {
    this.fail(
      res,
      400,
      "BXNIM0109E",
      "Property missing or empty.",
      `Property '${property}' either missing or empty.`,
    );
  }

  /** IAM's error body: errorCode, errorMessage, errorDetails, and the request's context. */
  fail(res: ServerResponse, status: number, code: string, message: string, details?: string): void {
    const start = new Date();
    json(res, status, {
      errorCode: code,
      errorMessage: message,
      ...(details ? { errorDetails: details } : {}),
      context: {
        requestId: `${randomBytes(4).toString("base64url")}-${randomBytes(16).toString("hex")}`,
        requestType: "incoming.Identity_Token",
        userAgent: "",
        url: this.url,
        instanceId: "iamid-fake-0",
        threadId: randomBytes(4).toString("hex"),
        host: "iamid-fake-0",
        startTime: start.toISOString(),
        endTime: new Date().toISOString(),
        elapsedTime: "0",
        locale: "en_US",
        clusterName: "iam-id-fake",
      },
    });
  }
}

/** A Kubernetes-style projected service account token, as the kubelet mounts for audience iam. */
export function serviceAccountToken(
  key: KeyObject,
  opts: {
    issuer: string;
    namespace: string;
    serviceAccount: string;
    audience?: string;
    lifetime?: number;
    now?: number;
  },
): string {
  const now = Math.floor((opts.now ?? Date.now()) / 1000);
  return signJwt(
    { alg: "RS256", kid: "cluster-sa-key" },
    {
      aud: [opts.audience ?? "iam"],
      exp: now + (opts.lifetime ?? 3600),
      iat: now,
      nbf: now,
      iss: opts.issuer,
      sub: `system:serviceaccount:${opts.namespace}:${opts.serviceAccount}`,
      "kubernetes.io": {
        namespace: opts.namespace,
        serviceaccount: { name: opts.serviceAccount, uid: randomUUID() },
        pod: { name: `${opts.serviceAccount}-7d9f8c6b5-x2x4q`, uid: randomUUID() },
      },
    },
    key,
  );
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
  res.setHeader("content-type", "application/json");
  res.end(JSON.stringify(body));
}
