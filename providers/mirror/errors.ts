import { ProviderError } from "../contract.ts";
import { messageOf, statusOf } from "../../src/kube/client.ts";

/** An API server answer (or its absence) about the source Secret, in the shared vocabulary. */
export function classifyKubeError(err: unknown, where: string): ProviderError {
  if (err instanceof ProviderError) return err;
  const status = statusOf(err);
  const detail = messageOf(err);
  if (err instanceof Error && (err.name === "AbortError" || err.name === "TimeoutError")) {
    return new ProviderError("timeout", `reading ${where}: the API server did not answer in time`, {
      cause: err,
    });
  }
  const reason =
    status === undefined
      ? "network"
      : status === 404
        ? "not_found"
        : status === 403
          ? "access_denied"
          : status === 401
            ? "bad_credentials"
            : status === 429
              ? "throttled"
              : status >= 500
                ? "network"
                : "unknown";
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
