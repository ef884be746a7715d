import { ProviderError, type FailureReason } from "../contract.ts";
import { iamErrorResponse, type IamErrorResponse } from "./schema.ts";
import { networkCode, oneLine, reasonFor } from "../kit.ts";

/**
 * IAM error codes worth telling apart, by what the operator has to do. IAM answers a credential
 * it rejects with 400 and one of these in `errorCode`.
 */
const IAM_CODES: Record<string, FailureReason> = {
  BXNIM0415E: "bad_credentials", // Provided API key could not be found (deleted, or mistyped)
  BXNIM0109E: "bad_credentials", // Property missing or empty (e.g. an empty key or cr_token)
  BXNIM0398E: "access_denied", // Selected trusted profile not eligible: no link or rule for this pod
};

// IAM's own answer to a credential it will not exchange is 400 (BXNIM0415E, BXNIM0398E, ...).
const IAM = { codes: IAM_CODES, statuses: { 400: "bad_credentials" } } as const;

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
    return new ProviderError(reasonFor({ status }, IAM), `${what}: HTTP ${status} (not an IAM error body)`);
  }
  // A 429 is a rate limit whatever code comes with it.
  const reason = status === 429 ? "throttled" : reasonFor({ status, code: body.errorCode }, IAM);
  const said = [body.errorMessage, body.errorDetails].filter((s) => s).join(" ");
  const requestId = body.context?.requestId;
  return new ProviderError(
    reason,
    `${what}: [${status} ${body.errorCode}] ${oneLine(said)}`.trimEnd(),
    requestId ? { requestId } : {},
  );
}

/** A request that got no HTTP answer: timeout when it ran out of time, else network. */
export function iamTransportError(what: string, err: unknown): ProviderError {
  const net = networkCode(err);
  const reason = reasonFor({ err, noAnswer: true });
  if (net) return new ProviderError(reason, `${what}: cannot reach IAM (${net})`, { cause: err });
  const message = err instanceof Error ? err.message : String(err);
  return new ProviderError(reason, `${what}: ${oneLine(message)}`, { cause: err });
}
