import { ProviderError } from "../contract.ts";
import { iamHttpError, iamTransportError } from "./errors.ts";
import { TOKEN_PATH, iamTokenResponse } from "./schema.ts";
import { registerSecret, userAgent } from "../kit.ts";

export type Fetch = typeof globalThis.fetch;

export const APIKEY_GRANT = "urn:ibm:params:oauth:grant-type:apikey";
export const CR_TOKEN_GRANT = "urn:ibm:params:oauth:grant-type:cr-token";

export interface IamToken {
  token: string;
  expiresAt: Date;
}

export interface IamRequest {
  /** IAM's base URL (no /identity/token). */
  endpoint: string;
  /** For messages: which grant, e.g. "apikey" or "trusted profile Profile-…". */
  describe: string;
  form: Record<string, string>;
  signal: AbortSignal;
  fetch: Fetch;
  now: () => number;
}

const USER_AGENT = userAgent();

/**
 * POST {endpoint}/identity/token, form-encoded, as IBM's SDKs send it. The expiry is IAM's:
 * `expiration` (Unix seconds) when present, else `expires_in` from now; neither is a failure,
 * never a guessed hour.
 */
export async function requestIamToken(req: IamRequest): Promise<IamToken> {
  const url = `${req.endpoint}${TOKEN_PATH}`;
  const what = `IAM token (${req.describe}) from ${url}`;
  let response: Response;
  let text: string;
  try {
    response = await req.fetch(url, {
      method: "POST",
      headers: {
        "content-type": "application/x-www-form-urlencoded",
        accept: "application/json",
        "user-agent": USER_AGENT,
      },
      body: new URLSearchParams(req.form).toString(),
      redirect: "error",
      signal: req.signal,
    });
    text = await response.text();
  } catch (err) {
    if (req.signal.aborted) throw req.signal.reason;
    throw iamTransportError(what, err);
  }
  if (!response.ok) throw iamHttpError(what, response.status, text);

  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    throw new ProviderError("invalid_response", `${what}: the answer is not JSON`);
  }
  const parsed = iamTokenResponse.safeParse(json);
  if (!parsed.success) throw new ProviderError("invalid_response", `${what}: the answer has no access_token`);
  const body = parsed.data;
  registerSecret(body.access_token);
  // An API key grant also returns a refresh token; regcred never uses it, and never shows it.
  if (body.refresh_token) registerSecret(body.refresh_token);

  const now = req.now();
  const expiresAt =
    body.expiration !== undefined
      ? new Date(body.expiration * 1000)
      : body.expires_in !== undefined
        ? new Date(now + body.expires_in * 1000)
        : null;
  if (!expiresAt) {
    throw new ProviderError(
      "invalid_response",
      `${what}: the answer gives no expiry (expiration, expires_in)`,
    );
  }
  if (expiresAt.getTime() <= now) {
    throw new ProviderError(
      "invalid_response",
      `${what}: the token arrived already expired (${expiresAt.toISOString()}): clock skew?`,
    );
  }
  return { token: body.access_token, expiresAt };
}
