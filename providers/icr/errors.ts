import { ProviderError, type FailureReason } from "../contract.ts";
import { iamErrorResponse, type IamErrorResponse } from "./schema.ts";
import { networkCode } from "../kit.ts";

/**
 * IAM error codes worth telling apart, by what the operator has to do. IAM answers a credential
 * it rejects with 400 and one of these in `errorCode`.
 */
const IAM_CODES: Record<string, FailureReason> = {
  BXNIM0415E: "bad_credentials", // Provided API key could not be found (deleted, or mistyped)
  BXNIM0109E: "bad_credentials", // Property missing or empty (e.g. an empty key or cr_token)
  BXNIM0398E: "access_denied", // Selected trusted profile not eligible: no link or rule for this pod
};

/** By HTTP status, when the code says nothing more. */
function statusReason(status: number): FailureReason {
  // IAM's own answer to a credential it will not exchange is 400 (BXNIM0415E, BXNIM0398E, ...).
  if (status === 400 || status === 401) return "bad_credentials";
  if (status === 403) return "access_denied";
  if (status === 404) return "not_found";
  if (status === 429) return "throttled";
  return "unknown";
}

// Error texts can quote a server's whole answer; keep messages to a line's worth.
function oneLine(text: string, max = 300): string {
  const line = text.replace(/\s+/g, " ").trim();
  return line.length > max ? `${line.slice(0, max)}...` : line;
}

/** IAM's JSON error body, or null when the answer is something else (a proxy's page). */
export function parseIamError(text: string): IamErrorResponse | null {
  try {
    const parsed = iamErrorResponse.safeParse(JSON.parse(text));
    return parsed.success ? parsed.data : null;
  } catch {
    return null;
  }
}

/**
 * A non-2xx answer from IAM: the reason from IAM's code (else the status), a message with the
 * status, code, message and details, and IAM's requestId for IBM support.
 */
export function iamHttpError(what: string, status: number, text: string): ProviderError {
  const body = parseIamError(text);
  if (!body) {
    return new ProviderError(statusReason(status), `${what}: HTTP ${status} (not an IAM error body)`);
  }
  const reason = (status === 429 ? "throttled" : IAM_CODES[body.errorCode]) ?? statusReason(status);
  const said = [body.errorMessage, body.errorDetails].filter((s) => s).join(" ");
  const requestId = body.context?.requestId;
  return new ProviderError(
    reason,
    `${what}: [${status} ${body.errorCode}] ${oneLine(said)}`.trimEnd(),
    requestId ? { requestId } : {},
  );
}

/** A request that got no HTTP answer: network when a socket or TLS code says so, else unknown. */
export function iamTransportError(what: string, err: unknown): ProviderError {
  const net = networkCode(err);
  if (net) return new ProviderError("network", `${what}: cannot reach IAM (${net})`, { cause: err });
  const message = err instanceof Error ? err.message : String(err);
  return new ProviderError("unknown", `${what}: ${oneLine(message)}`, { cause: err });
}
