import { ProviderError } from "../contract.ts";
import { transportError } from "./errors.ts";
import { registerSecret, isAbort, statusReason } from "../kit.ts";

/** ACR's username for a refresh token obtained through the exchange. */
export const ACR_REFRESH_USERNAME = "00000000-0000-0000-0000-000000000000";

export interface RefreshToken {
  token: string;
  expiresAt: Date;
}

/** The JWT's payload, decoded but NOT verified: only the registry can verify it, and need not. */
export function jwtPayload(token: string): Record<string, unknown> | null {
  const parts = token.split(".");
  if (parts.length !== 3 || !parts[1]) return null;
  try {
    const payload: unknown = JSON.parse(Buffer.from(parts[1], "base64url").toString("utf8"));
    return typeof payload === "object" && payload !== null && !Array.isArray(payload)
      ? (payload as Record<string, unknown>)
      : null;
  } catch {
    return null;
  }
}

/** The expiry in a JWT's `exp` claim (Unix seconds), or null when there is none. */
export function jwtExpiry(token: string): Date | null {
  const exp = jwtPayload(token)?.["exp"];
  return typeof exp === "number" && Number.isFinite(exp) && exp > 0 ? new Date(exp * 1000) : null;
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
  let token: unknown;
  try {
    token = (JSON.parse(text) as { refresh_token?: unknown }).refresh_token;
  } catch {
    token = undefined;
  }
  if (typeof token !== "string" || token === "") {
    throw new ProviderError("invalid_response", `${what}: the answer has no refresh_token`, options);
  }
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
  try {
    const first = (JSON.parse(text) as { errors?: Array<{ code?: string; message?: string }> }).errors?.[0];
    if (first) return `: ${[first.code, first.message].filter(Boolean).join(" ")}`.slice(0, 300);
  } catch {
    // not JSON: say nothing rather than echo an arbitrary body
  }
  return "";
}
