import { ClusterError, ProviderError } from "../contract.ts";
import { reasonFor } from "../kit.ts";

/** An API server answer (or its absence) about the source Secret, in the shared vocabulary. */
export function classifyKubeError(err: unknown, where: string): ProviderError {
  if (err instanceof ProviderError) return err;
  const status = err instanceof ClusterError ? err.status : undefined;
  const reason = reasonFor({ status, err, noAnswer: status === undefined });
  if (reason === "timeout") {
    return new ProviderError("timeout", `reading ${where}: the API server did not answer in time`, {
      cause: err,
    });
  }
  const detail = err instanceof Error ? err.message : String(err);
  const hint =
    reason === "not_found"
      ? " (does not exist; the last good auths stay in place until it is back)"
      : reason === "access_denied"
        ? " (grant get, list, watch on it: see providers/mirror/README.md)"
        : reason === "bad_credentials"
          ? " (the API server rejected regcred's own token)"
          : "";
  const code = status === undefined ? "API server unreachable" : `HTTP ${status}`;
  return new ProviderError(reason, `reading ${where}: ${code}: ${detail}${hint}`, { cause: err });
}
