import type { ZodMiniType } from "zod/mini";
import type { Logger } from "pino";
import type { V1Secret } from "@kubernetes/client-node";

// A leaf: everything a provider and its caller agree on, importing nothing of regcred. What a
// provider may use of the rest of regcred comes through ./kit.ts; what it may ask of the world
// comes in its ProviderContext.

/** What every provider returns: credentials for one or more registry hosts. */
export interface Credential {
  /** auths keys: host[:port][/path], no scheme (Docker Hub's legacy key excepted). */
  registries: string[];
  username: string;
  password: string;
  /** When the registry stops accepting it; null = does not expire. */
  expiresAt: Date | null;
}

/** What the caller knows when it asks for a mint. */
export interface MintHint {
  /**
   * The credentials in use now (the refresher's last good, which the cluster's Secrets hold),
   * or null. A provider whose upstream can revoke a credential it replaces (ACR token password
   * slots) uses it to leave the live one alone.
   */
  current: readonly Credential[] | null;
}

export interface Provider {
  /** One upstream round trip: mint fresh credentials. Must honour the signal. */
  mint(signal: AbortSignal, hint?: MintHint): Promise<Credential[]>;
  /**
   * Optional push side: providers whose source can change between refreshes (a mounted file,
   * a watched Secret) call onChange so the refresher mints at once. Returns an unsubscribe.
   */
  watch?(onChange: () => void): () => void;
}

/** Where a secret value comes from: a mounted file or an environment variable, never the value. */
export type SecretRef = { file: string } | { env: string };

export interface SecretReader {
  /** Reads the value, registers it with the redactor, and trims one trailing newline. */
  read(ref: SecretRef): Promise<string>;
  /** Calls onChange when the referenced value may have changed. Returns an unsubscribe. */
  watch(ref: SecretRef, onChange: () => void): () => void;
}

/**
 * What a provider may ask of the cluster regcred runs against: one named Secret, read and
 * followed. The implementation (src/kube/cluster-access.ts) owns the API client; a failed call
 * rejects with a ClusterError, an abort with the signal's reason.
 */
export interface ClusterAccess {
  /** `log` is the registry's logger: the watch reports its reconnects there. */
  secret(where: { namespace: string; name: string }, log: Logger): ClusterSecret;
}

export interface ClusterSecret {
  /** One read through the API server. */
  read(signal: AbortSignal): Promise<V1Secret>;
  /** Starts following the Secret; onEvent fires on every add, update or delete of it. */
  follow(onEvent: () => void): ClusterSecretWatch;
}

export interface ClusterSecretWatch {
  /** undefined until the first list succeeded; then the Secret as last seen, or null if absent. */
  current(): V1Secret | null | undefined;
  stop(): Promise<void>;
}

/** An API call that failed: the HTTP status (undefined when no answer came) and the server's message. */
export class ClusterError extends Error {
  readonly status: number | undefined;

  constructor(status: number | undefined, message: string, options: { cause?: unknown } = {}) {
    super(message, options);
    this.name = "ClusterError";
    this.status = status;
  }
}

export interface ProviderContext {
  log: Logger;
  secrets: SecretReader;
  /** The cluster, when regcred runs against one (--output kube); providers that read from it need it. */
  cluster?: ClusterAccess;
}

/**
 * A provider plugin: its config schema and a factory. Cloud clients are injected through the
 * factory's second argument so tests can point them at local servers.
 */
export interface ProviderDefinition<Settings extends { name: string; provider: string }> {
  kind: Settings["provider"];
  schema: ZodMiniType<Settings>;
  create(settings: Settings, ctx: ProviderContext): Provider;
  /**
   * Credential lifetimes the settings fix in advance (e.g. a configured password lifetime), with
   * the path of the setting, so the config check can reject a lifetime the refresh policy cannot
   * renew in time.
   */
  knownLifetimes?(settings: Settings): Array<{ path: PropertyKey[]; ms: number }>;
}

/**
 * The fixed vocabulary of failure reasons. Providers classify their errors into these so logs,
 * the `reason` metric label and alerts mean the same thing for every registry.
 */
export const FAILURE_REASONS = [
  "access_denied",
  "bad_credentials",
  "expired_token",
  "not_found",
  "throttled",
  "network",
  "timeout",
  "invalid_response",
  "source_unavailable",
  // The provider minted a credential that the registry itself refused (401/403 on the v2 auth
  // handshake before rollout): the last good one stays.
  "rejected",
  "unknown",
] as const;
export type FailureReason = (typeof FAILURE_REASONS)[number];

export class ProviderError extends Error {
  readonly reason: FailureReason;
  readonly requestId: string | undefined;

  constructor(reason: FailureReason, message: string, options: { cause?: unknown; requestId?: string } = {}) {
    super(message, { cause: options.cause });
    this.name = "ProviderError";
    this.reason = reason;
    this.requestId = options.requestId;
  }
}

export function failureReason(err: unknown): FailureReason {
  if (err instanceof ProviderError) return err.reason;
  if (err instanceof Error && (err.name === "AbortError" || err.name === "TimeoutError")) return "timeout";
  return "unknown";
}
