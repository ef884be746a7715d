import { ProviderError, type FailureReason } from "../contract.ts";
import { isNetworkCode, oneLine, reasonFor } from "../kit.ts";
import { googleErrorBody } from "./schema.ts";

// What google-auth-library's errors carry: GaxiosError fields (status, code, response), also
// copied onto the plain Error its STS client throws for OAuth error responses.
interface GoogleErrorShape {
  message?: unknown;
  name?: unknown;
  code?: unknown;
  status?: unknown;
  response?: { status?: unknown; data?: unknown };
}

// OAuth 2.0 token endpoint errors (RFC 6749 5.2), from oauth2.googleapis.com and sts.googleapis.com.
const OAUTH_ERRORS: Record<string, FailureReason> = {
  invalid_grant: "bad_credentials",
  invalid_client: "bad_credentials",
  unauthorized_client: "access_denied",
  invalid_scope: "access_denied",
  access_denied: "access_denied",
};

// google.rpc.Code names, from Google APIs' JSON error bodies (IAM Credentials).
const RPC_STATUS: Record<string, FailureReason> = {
  PERMISSION_DENIED: "access_denied",
  UNAUTHENTICATED: "bad_credentials",
  NOT_FOUND: "not_found",
  RESOURCE_EXHAUSTED: "throttled",
};

/** The google status words: an OAuth error code, or an RPC status name, and the HTTP status. */
const GOOGLE = { codes: { ...OAUTH_ERRORS, ...RPC_STATUS } };

function googleStatus(err: GoogleErrorShape): { http?: number; oauth?: string; rpc?: string } {
  const http =
    typeof err.status === "number"
      ? err.status
      : typeof err.response?.status === "number"
        ? err.response.status
        : undefined;
  const body = googleErrorBody.safeParse(err.response?.data);
  if (!body.success) return { http };
  const { error } = body.data;
  return typeof error === "string" ? { http, oauth: error } : { http, rpc: error.status };
}

/**
 * Maps what google-auth-library throws onto the shared failure reasons. The message names the
 * step and keeps Google's own code and status words. The original error is not kept as the
 * cause: its request config and response would reach the logs whole.
 */
export function classifyGoogleError(err: unknown, step: string): ProviderError {
  if (err instanceof ProviderError)
    return new ProviderError(err.reason, `${step}: ${err.message}`, { requestId: err.requestId });
  const e = (err && typeof err === "object" ? err : {}) as GoogleErrorShape;
  const text = oneLine(typeof e.message === "string" ? e.message : String(err), 400);
  const { http, oauth, rpc } = googleStatus(e);
  const code = typeof e.code === "string" ? e.code : undefined;
  const words = [http, oauth ?? rpc ?? (code && !text.includes(code) ? code : undefined)].filter(
    (w) => w !== undefined,
  );
  const message = `${step}: ${words.length > 0 ? `[${words.join(" ")}] ` : ""}${text}`;

  // gaxios names a timeout in `code` as well as `name`.
  const timedOut = [code, e.name].some((w) => w === "TimeoutError" || w === "AbortError");
  const networked = isNetworkCode(code) || /\b(ECONNREFUSED|ENOTFOUND|ECONNRESET|EAI_AGAIN)\b/.test(text);
  let reason = reasonFor(
    { status: http, code: oauth ?? rpc, err: timedOut ? { name: "TimeoutError" } : e, noAnswer: networked },
    GOOGLE,
  );
  if (reason === "unknown" && http === undefined) {
    if (/Could not load the default credentials/i.test(text)) reason = "source_unavailable";
    else if (/Invalid response from metadata service/i.test(text)) reason = "invalid_response";
  }
  return new ProviderError(reason, message);
}
