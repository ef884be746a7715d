import { createPrivateKey, sign, type KeyObject } from "node:crypto";
import type { Logger } from "pino";
import { ProviderError, type SecretRef } from "../contract.ts";
import { GitHubApiError, callGitHub, type Fetch, type GitHubResponse } from "./github.ts";
import { registerSecret, describeRef, parseAnswer } from "../kit.ts";
import { installationTokenResponse } from "./schema.ts";

export interface AppSettings {
  appId?: number | string | undefined;
  clientId?: string | undefined;
  installationId: number | string;
  privateKeyFrom: SecretRef;
  repositories?: string[] | undefined;
}

export interface InstallationToken {
  token: string;
  expiresAt: Date;
  permissions: Record<string, string>;
}

/** What GitHub allows: exp at most 10 minutes after iat. */
const JWT_LIFETIME_S = 600;
/** iat this far in the past, as GitHub's docs advise, to absorb clock drift. */
const IAT_BACKDATE_S = 60;

// GitHub's 401 texts for a JWT outside its clock window (the same ones @octokit/auth-app retries on).
const SKEW_MESSAGE = /'(Expiration time|Issued at)' claim \('(exp|iat)'\)/;

/**
 * The App JWT: RS256 over {iat, exp, iss} with the App's private key. iss is the App ID or the
 * client ID; GitHub accepts either. `nowS` is the clock GitHub is believed to have.
 */
export function signAppJwt(key: KeyObject, issuer: string | number, nowS: number): string {
  const iat = Math.floor(nowS) - IAT_BACKDATE_S;
  const b64 = (v: object) => Buffer.from(JSON.stringify(v)).toString("base64url");
  const input = `${b64({ alg: "RS256", typ: "JWT" })}.${b64({ iat, exp: iat + JWT_LIFETIME_S, iss: issuer })}`;
  const jwt = `${input}.${sign("sha256", Buffer.from(input), key).toString("base64url")}`;
  registerSecret(jwt);
  return jwt;
}

/** Accepts PKCS#1 (what GitHub hands out) and PKCS#8 PEM; rejects anything but an RSA key. */
export function loadPrivateKey(pem: string, ref: SecretRef): KeyObject {
  let key: KeyObject;
  try {
    // Keys pasted into an env var often carry literal "\n".
    key = createPrivateKey(pem.includes("\\n") ? pem.replace(/\\n/g, "\n") : pem);
  } catch {
    throw new ProviderError(
      "bad_credentials",
      `the App private key from ${describeRef(ref)} is not a PEM private key`,
    );
  }
  if (key.asymmetricKeyType !== "rsa") {
    throw new ProviderError(
      "bad_credentials",
      `the App private key from ${describeRef(ref)} is ${key.asymmetricKeyType ?? "not asymmetric"}, expected RSA`,
    );
  }
  return key;
}

export interface MintInstallationOptions {
  apiUrl: string;
  app: AppSettings;
  key: KeyObject;
  signal: AbortSignal;
  fetch: Fetch;
  now: () => number;
  log: Logger;
  /** Seconds GitHub's clock is ahead of ours, learned from an earlier skew rejection. */
  skew: { seconds: number };
}

/**
 * POST /app/installations/{id}/access_tokens asking for packages: read only (and only the listed
 * repositories, when given). A JWT rejected for clock skew is re-signed once on GitHub's clock,
 * read from its Date header, and the difference is kept for later refreshes.
 */
export async function mintInstallationToken(o: MintInstallationOptions): Promise<InstallationToken> {
  const issuer = o.app.clientId ?? o.app.appId!;
  const body = {
    permissions: { packages: "read" },
    ...(o.app.repositories ? { repositories: o.app.repositories } : {}),
  };
  const request = () =>
    callGitHub(
      o.apiUrl,
      {
        method: "POST",
        path: `/app/installations/${o.app.installationId}/access_tokens`,
        bearer: signAppJwt(o.key, issuer, o.now() / 1000 + o.skew.seconds),
        body,
        signal: o.signal,
      },
      o.fetch,
    );
  let res: GitHubResponse;
  try {
    res = await request();
  } catch (err) {
    const githubNow = skewedClock(err);
    if (githubNow === null) throw err;
    o.skew.seconds = Math.round((githubNow - o.now()) / 1000);
    o.log.warn(
      { skewSeconds: o.skew.seconds },
      `GitHub rejected the App JWT for clock skew: its clock differs from ours by ${o.skew.seconds}s; re-signing on GitHub's time`,
    );
    res = await request();
  }
  return parseTokenResponse(res);
}

function skewedClock(err: unknown): number | null {
  if (!(err instanceof GitHubApiError) || err.status !== 401 || !SKEW_MESSAGE.test(err.message)) return null;
  return err.serverDate;
}

function parseTokenResponse(res: GitHubResponse): InstallationToken {
  // Registered before parsing: a token in an answer that fails to parse is still a token.
  const token = (res.body as { token?: unknown } | null)?.token;
  if (typeof token === "string" && token !== "") registerSecret(token);
  const requestId = res.headers.get("x-github-request-id") ?? undefined;
  const b = parseAnswer(installationTokenResponse, res.body, "installation token response", { requestId });
  return { token: b.token, expiresAt: new Date(b.expires_at), permissions: b.permissions ?? {} };
}
