import { ProviderError, type FailureReason } from "../contract.ts";
import { networkCode, reasonFor } from "../kit.ts";

/**
 * Entra ID error codes (AADSTS...) worth telling apart, by what the operator has to do.
 * https://learn.microsoft.com/entra/identity-platform/reference-error-codes
 */
const AADSTS: Record<string, FailureReason> = {
  "7000215": "bad_credentials", // invalid client secret
  "7000222": "expired_token", // client secret expired
  "700027": "bad_credentials", // client assertion failed signature validation
  "700021": "bad_credentials", // client assertion application identifier does not match client_id
  "700023": "bad_credentials", // client assertion audience does not match the realm
  "700024": "expired_token", // client assertion not within its valid time range
  "70021": "bad_credentials", // no federated identity credential matches the assertion
  "700211": "bad_credentials", // no federated identity credential for this issuer
  "700212": "bad_credentials", // ... for this audience
  "700213": "bad_credentials", // ... for this subject
  "7000218": "bad_credentials", // neither client_assertion nor client_secret sent
  "700016": "not_found", // application not found in the directory
  "7000229": "not_found", // the application has no service principal in the tenant
  "90002": "not_found", // tenant not found
  "900023": "not_found", // tenant identifier is not a GUID nor a valid domain
  "500011": "not_found", // resource principal (the scope's API) not found in the tenant
  "7000112": "access_denied", // application disabled
  "53003": "access_denied", // blocked by Conditional Access
  "65001": "access_denied", // consent not granted
  "50196": "throttled", // loop detected: too many identical requests
};

function firstLine(text: string): string {
  return (
    text
      .split(/\r?\n/)
      .find((l) => l.trim() !== "")
      ?.trim() ?? ""
  );
}

/**
 * An @azure/identity failure. AuthenticationError carries Entra's JSON answer; MSAL errors
 * arrive re-wrapped with the answer's text in the message. Either way the AADSTS code decides.
 */
export function entraError(err: unknown, what: string): ProviderError {
  if (err instanceof ProviderError) return err;
  const e = err as {
    name?: string;
    message?: string;
    statusCode?: number;
    errorResponse?: { error?: string; errorDescription?: string; correlationId?: string; traceId?: string };
    errors?: unknown[];
  };
  const description = e.errorResponse?.errorDescription ?? e.message ?? String(err);
  const code = /AADSTS(\d+)/.exec(description)?.[1] ?? /AADSTS(\d+)/.exec(e.message ?? "")?.[1];
  const requestId =
    e.errorResponse?.correlationId ?? /Correlation ID: ([0-9a-f-]{36})/i.exec(description)?.[1];
  const detail = code
    ? firstLine(description.slice(description.indexOf(`AADSTS${code}`)))
    : firstLine(description);
  const options = { cause: err, ...(requestId ? { requestId } : {}) };
  const message = `${what}: ${detail}`;
  if (code) return new ProviderError(AADSTS[code] ?? "unknown", message, options);
  const net = networkCode(err);
  const noAnswer = /endpoints_resolution_error|network_error|fetch failed/i.test(e.message ?? "");
  const reason = reasonFor({ status: e.statusCode, err, noAnswer });
  if (reason === "network" && net) return new ProviderError(reason, `${message} (${net})`, options);
  if (
    reason === "unknown" &&
    (e.name === "CredentialUnavailableError" || e.name === "AggregateAuthenticationError")
  ) {
    // No source of credentials: the identity's env, file or endpoint is missing.
    return new ProviderError("source_unavailable", message, options);
  }
  return new ProviderError(reason, message, options);
}

/** A transport failure (no HTTP answer) from fetch or the Azure pipeline: timeout, else network. */
export function transportError(err: unknown, what: string): ProviderError {
  if (err instanceof ProviderError) return err;
  const net = networkCode(err);
  const message = err instanceof Error ? err.message : String(err);
  const reason = reasonFor({ err, noAnswer: true });
  return new ProviderError(reason, `${what}: ${net ?? message}`, { cause: err });
}
