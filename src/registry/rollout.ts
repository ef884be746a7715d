import type { VerifyPolicy } from "../base/registry-check.ts";
import type { Credential } from "../../providers/contract.ts";
import { apiHostOf, isLoopbackHost, verifyCredential, type Verdict, type VerifyRequest } from "./verify.ts";

/** A registry's `registryCheck` settings after defaults: what the refresher checks a new credential with. */
export type { VerifyPolicy };

/** One handshake with one registry host; the daemon passes verifyCredential, unit tests a fake. */
export type CredentialCheck = (req: VerifyRequest) => Promise<Verdict>;

export const realCheck: CredentialCheck = verifyCredential;

export type VerificationResult = "accepted" | "rejected" | "unreachable" | "unverifiable";

/** What the registries said of a freshly minted set of credentials, taken together. */
export interface Verification {
  result: VerificationResult;
  /** Hosts and statuses only: never a credential. */
  message: string;
  hosts: Array<{ host: string; result: VerificationResult; message: string }>;
}

/**
 * The API hosts a credential is used on: wildcard keys (`*.example.com`) name no host to ask,
 * and Docker Hub's keys all mean registry-1.docker.io.
 */
export function hostsOf(credential: Credential): string[] {
  return [...new Set(credential.registries.filter((k) => !k.includes("*")).map(apiHostOf))];
}

/**
 * Checks every credential on every host it is written for. Only 401/403 is a rejection: any
 * other refusal (a 404 for a mistyped registryCheck.repository) proves nothing against the credential,
 * and treating it as one would block every rollout until the last good one expired.
 */
export async function verifyMinted(
  credentials: readonly Credential[],
  policy: VerifyPolicy,
  check: CredentialCheck,
  signal: AbortSignal,
): Promise<Verification> {
  const jobs = credentials.flatMap((c) => hostsOf(c).map((host) => ({ c, host })));
  const hosts = await Promise.all(
    jobs.map(async ({ c, host }) => {
      const verdict = await check({
        host,
        username: c.username,
        password: c.password,
        ...(policy.repository ? { repository: policy.repository } : {}),
        plainHttp: isLoopbackHost(host),
        timeoutMs: policy.timeout,
        signal,
      });
      return { host, ...classify(verdict) };
    }),
  );
  if (hosts.length === 0) {
    return { result: "unverifiable", message: "only wildcard keys: no registry host to ask", hosts };
  }
  const first = (r: VerificationResult) => hosts.find((h) => h.result === r);
  const worst =
    first("rejected") ??
    first("unreachable") ??
    (hosts.some((h) => h.result === "accepted") ? first("accepted") : first("unverifiable"))!;
  return { result: worst.result, message: worst.message, hosts };
}

function classify(v: Verdict): { result: VerificationResult; message: string } {
  switch (v.result) {
    case "accepted":
      return { result: "accepted", message: `accepted (${v.scheme})` };
    case "rejected":
      return v.status === 401 || v.status === 403
        ? { result: "rejected", message: v.message }
        : { result: "unverifiable", message: `${v.message}: not a verdict on the credential` };
    default:
      return { result: v.result, message: v.message };
  }
}
