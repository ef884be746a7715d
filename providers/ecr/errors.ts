import { ProviderError, type FailureReason } from "../contract.ts";
import { networkCode, reasonFor } from "../kit.ts";

/**
 * AWS error codes by what the operator has to do. ECR and STS spell some differently
 * (AccessDeniedException / AccessDenied, ThrottlingException / Throttling), and the SDK names
 * modeled STS errors with an Exception suffix (wire code InvalidIdentityToken arrives as
 * InvalidIdentityTokenException): lookups try the name with and without it.
 */
const CODES: Record<string, FailureReason> = {
  AccessDeniedException: "access_denied",
  AccessDenied: "access_denied",
  // The identity provider refused the web identity token's claims (trust policy's conditions).
  IDPRejectedClaim: "access_denied",
  // STS is deactivated in the region the role is assumed in.
  RegionDisabledException: "access_denied",
  UnrecognizedClientException: "bad_credentials",
  InvalidClientTokenId: "bad_credentials",
  SignatureDoesNotMatch: "bad_credentials",
  InvalidSignatureException: "bad_credentials",
  IncompleteSignature: "bad_credentials",
  MissingAuthenticationToken: "bad_credentials",
  CredentialsProviderError: "bad_credentials",
  // Both mean "the token regcred presents must be replaced": AWS documents the same remedy for
  // them ("get a new identity token from the identity provider and retry"), and for IRSA that is
  // the kubelet-rotated projected token (stale mount, wrong audience or issuer). The message keeps
  // the exact code so the two stay distinguishable.
  ExpiredTokenException: "expired_token",
  ExpiredToken: "expired_token",
  InvalidIdentityToken: "expired_token",
  ThrottlingException: "throttled",
  Throttling: "throttled",
  TooManyRequestsException: "throttled",
  TooManyRequests: "throttled",
  RequestLimitExceeded: "throttled",
  // The IdP's keys could not be fetched: nothing regcred can change, retry later.
  IDPCommunicationError: "network",
  // AWS's own request timeouts. (node-http-handler's connectionTimeout and requestTimeout are
  // named TimeoutError: the shared mapping calls those timeout too.)
  RequestTimeout: "timeout",
  RequestTimeoutException: "timeout",
};

interface AwsError {
  name?: string;
  message?: string;
  $metadata?: { httpStatusCode?: number; requestId?: string };
}

/** The reason for an AWS SDK error (ECR, ECR Public, STS, credential providers). */
export function classify(err: unknown): FailureReason {
  // A socket failure anywhere in the chain wins: the credential providers wrap an unreachable
  // IMDS or STS in a CredentialsProviderError, which by name alone reads as bad_credentials.
  if (networkCode(err)) return "network";
  const e = (err ?? {}) as AwsError;
  const code = e.name && !CODES[e.name] ? e.name.replace(/Exception$/, "") : e.name;
  return reasonFor({ status: e.$metadata?.httpStatusCode, code, err }, { codes: CODES });
}

/**
 * Wraps an AWS failure as a ProviderError: the reason, the AWS error code and message in the text,
 * and AWS's request ID (what AWS Support asks for) as requestId.
 */
export function awsError(err: unknown, what: string): ProviderError {
  if (err instanceof ProviderError) return err;
  const e = (err ?? {}) as AwsError;
  const reason = classify(err);
  const net = networkCode(err);
  const requestId = e.$metadata?.requestId;
  const code = net ?? e.name ?? "Error";
  const text = (e.message ?? String(err)).split(/\r?\n/)[0]!.trim();
  const detail = text && text !== code ? `${code}: ${text}` : code;
  const status = e.$metadata?.httpStatusCode ? ` (HTTP ${e.$metadata.httpStatusCode})` : "";
  return new ProviderError(reason, `${what}: ${detail}${status}`, {
    cause: err,
    ...(requestId ? { requestId } : {}),
  });
}
