import { ProviderError } from "../contract.ts";
import { transportError } from "./errors.ts";
import { registerSecret, isAbort, parseJson, statusReason } from "../kit.ts";
import { exchangeResponse, jwtClaims, registryErrorBody, type JwtClaims } from "./schema.ts";

/** ACR's username for a refresh token obtained through the exchange. */
export const ACR_REFRESH_USERNAME = "00000000-0000-0000-0000-000000000000";

export interface RefreshToken {
  token: string;
  expiresAt: Date;
}

/** The JWT's payload, decoded but NOT verified: only the registry can verify it, and need not. */
export function jwtPayload(token: string): JwtClaims | null {
  const parts = token.split(".");
  if (parts.length !== 3 || !parts[1]) return null;
  const parsed = jwtClaims.safeParse(parseJson(Buffer.from(parts[1], "base64url").toString("utf8")));
  return parsed.success ? parsed.data : null;
}

/** The expiry in a JWT's `exp` claim (Unix seconds), or null when there is none. */
export function jwtExpiry(token: string): Date | null {
  const exp = jwtPayload(token)?.exp;
  return exp === undefined ? null : new Date(exp * 1000);
}

/**
 * POST <registry>/oauth2/exchange: trades an Entra access token for an ACR refresh token, which
 * docker and kubelet send as the password of user 00000000-0000-0000-0000-000000000000.
 */
export async function exchangeToken(input: {
  url: string;
  registry: string;
  accessToken: string;
  tenant: string | undefined;
  signal: AbortSignal;
}): Promise<RefreshToken> {
  const what = `ACR exchange at ${input.registry}`;
  const form = new URLSearchParams({
    grant_type: "access_token",
    service: input.registry,
    access_token: input.accessToken,
  });
  if (input.tenant) form.set("tenant", input.tenant);
  let response: Response;
  let text: string;
  try {
    response = await fetch(input.url, {
      method: "POST",
      headers: { "content-type": "application/x-www-form-urlencoded", accept: "application/json" },
      body: form,
      signal: input.signal,
    });
    text = await response.text();
  } catch (err) {
    if (isAbort(err, input.signal)) throw err;
    throw transportError(err, what);
  }
  const requestId =
    response.headers.get("x-ms-correlation-request-id") ??
    response.headers.get("x-ms-request-id") ??
    undefined;
  const options = requestId ? { requestId } : {};
  if (!response.ok) {
    throw new ProviderError(
      statusReason(response.status),
      `${what}: HTTP ${response.status}${errorDetail(text)}`,
      options,
    );
  }
  const answer = exchangeResponse.safeParse(parseJson(text));
  if (!answer.success) {
    throw new ProviderError("invalid_response", `${what}: the answer has no refresh_token`, options);
  }
  const token = answer.data.refresh_token;
  registerSecret(token);
  const expiresAt = jwtExpiry(token);
  if (!expiresAt) {
    throw new ProviderError(
      "invalid_response",
      `${what}: the refresh token is not a JWT with an exp claim`,
      options,
    );
  }
  return { token, expiresAt };
}

/** ACR answers errors as {"errors":[{"code","message"}]} (the distribution format); keep it short. */
function errorDetail(text: string): string {
  // Not the distribution format: say nothing rather than echo an arbitrary body.
  const body = registryErrorBody.safeParse(parseJson(text));
  if (!body.success) return "";
  const first = body.data.errors[0]!;
  return `: ${[first.code, first.message].filter(Boolean).join(" ")}`.slice(0, 300);
}
