import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from "prom-client";
import type { FailureReason } from "../../providers/contract.ts";
import type { VerificationResult } from "../registry/rollout.ts";

export type RefreshResult = "success" | "failure" | "expired";

/**
 * regcred's Prometheus metrics, on a registry of their own so tests and several daemons in one
 * process never share series. Names follow Prometheus conventions: base units, _total, _seconds.
 * No per-namespace label: a cluster has thousands.
 */
export class Metrics {
  readonly registry = new Registry();

  readonly credentialExpiry = new Gauge({
    name: "regcred_credential_expiry_timestamp_seconds",
    help: "When the current credential of a registry stops being accepted (Unix seconds).",
    labelNames: ["registry", "provider"] as const,
    registers: [this.registry],
  });

  readonly refreshes = new Counter({
    name: "regcred_refresh_total",
    help: "Credential refresh attempts by result (success, failure, expired: minted but already expired).",
    labelNames: ["registry", "provider", "result"] as const,
    registers: [this.registry],
  });

  readonly refreshFailures = new Counter({
    name: "regcred_refresh_failures_total",
    help: "Failed credential refreshes by classified reason.",
    labelNames: ["registry", "provider", "reason"] as const,
    registers: [this.registry],
  });

  readonly refreshDuration = new Histogram({
    name: "regcred_refresh_duration_seconds",
    help: "How long a provider took to mint credentials.",
    labelNames: ["registry", "provider"] as const,
    buckets: [0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
    registers: [this.registry],
  });

  readonly lastSuccess = new Gauge({
    name: "regcred_last_success_timestamp_seconds",
    help: "When a registry's credential was last minted successfully (Unix seconds).",
    labelNames: ["registry", "provider"] as const,
    registers: [this.registry],
  });

  readonly secretWrites = new Counter({
    name: "regcred_secret_writes_total",
    help: "Secret writes by target secret and result (created, updated, unchanged, deleted, failed).",
    labelNames: ["secret", "result"] as const,
    registers: [this.registry],
  });

  readonly registryUp = new Gauge({
    name: "regcred_registry_credential_usable",
    help: "1 when the registry has a usable credential (fresh or last good), else 0.",
    labelNames: ["registry", "provider"] as const,
    registers: [this.registry],
  });

  readonly conflicts = new Gauge({
    name: "regcred_conflicts",
    help: "Namespaces where a Secret regcred did not create holds a target's name (left untouched unless adopt: true).",
    labelNames: ["secret"] as const,
    registers: [this.registry],
  });

  readonly outOfSync = new Gauge({
    name: "regcred_namespaces_out_of_sync",
    help: "Matching namespaces whose Secret is not as desired after the last pass (failed writes and conflicts).",
    labelNames: ["secret"] as const,
    registers: [this.registry],
  });

  readonly leader = new Gauge({
    name: "regcred_leader",
    help: "1 while this replica holds the leader Lease and writes, else 0.",
    registers: [this.registry],
  });

  // Self-healing pulls (src/engine/pull-reactions.ts).
  readonly pullFailures = new Counter({
    name: "regcred_pull_failures_total",
    help: "kubelet pull failures on a managed registry in a selected namespace, by reason (unauthorized, denied, auth, missing_secret).",
    labelNames: ["registry", "reason"] as const,
    registers: [this.registry],
  });

  readonly pullFailureRefreshes = new Counter({
    name: "regcred_pull_failure_refreshes_total",
    help: "Refreshes triggered by a pull failure (at most one per registry per pullFailures.minInterval).",
    labelNames: ["registry"] as const,
    registers: [this.registry],
  });

  readonly podHeals = new Counter({
    name: "regcred_pod_heals_total",
    help: "Pods stuck without regcred's pull Secret, by what was done (deleted, disabled, no_controller, own_pull_secrets, rate_limited).",
    labelNames: ["registry", "result"] as const,
    registers: [this.registry],
  });

  readonly verifications = new Counter({
    name: "regcred_credential_verifications_total",
    help: "Checks of newly minted credentials with their registry before rollout, by result (accepted; rejected: 401/403, not rolled out; unreachable and unverifiable: rolled out unverified).",
    labelNames: ["registry", "provider", "result"] as const,
    registers: [this.registry],
  });

  readonly verified = new Gauge({
    name: "regcred_credential_verified",
    help: "1 when the registry accepted the credential in use, 0 when it was rolled out unverified (registry unreachable or asking for no credential). Absent while verification is off.",
    labelNames: ["registry", "provider"] as const,
    registers: [this.registry],
  });

  constructor(options: { processMetrics?: boolean } = {}) {
    if (options.processMetrics) collectDefaultMetrics({ register: this.registry, prefix: "regcred_" });
  }

  recordRefresh(
    registry: string,
    provider: string,
    outcome: { result: RefreshResult; seconds: number; reason?: FailureReason },
  ): void {
    this.refreshes.inc({ registry, provider, result: outcome.result });
    this.refreshDuration.observe({ registry, provider }, outcome.seconds);
    if (outcome.result === "failure")
      this.refreshFailures.inc({ registry, provider, reason: outcome.reason ?? "unknown" });
  }

  recordCredential(registry: string, provider: string, expiresAt: Date | null, mintedAt: number): void {
    this.lastSuccess.set({ registry, provider }, mintedAt / 1000);
    if (expiresAt) this.credentialExpiry.set({ registry, provider }, expiresAt.getTime() / 1000);
    else this.credentialExpiry.remove({ registry, provider });
  }

  recordVerification(registry: string, provider: string, result: VerificationResult): void {
    this.verifications.inc({ registry, provider, result });
  }

  /** The verification state of the credential now in use; null: not checked. */
  recordVerified(registry: string, provider: string, result: VerificationResult | null): void {
    if (result === null) this.verified.remove({ registry, provider });
    else this.verified.set({ registry, provider }, result === "accepted" ? 1 : 0);
  }

  async text(): Promise<string> {
    return this.registry.metrics();
  }
}
