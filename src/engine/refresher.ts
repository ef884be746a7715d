import type { Logger } from "pino";
import type { RefreshPolicy } from "../base/refresh.ts";
import { formatDuration } from "../base/duration.ts";
import {
  failureReason,
  ProviderError,
  type Credential,
  type FailureReason,
  type Provider,
} from "../../providers/contract.ts";
import { RedactionScope, redact, registerAuth } from "../base/redact.ts";
import type { Metrics } from "../observe/metrics.ts";
import { backoffDelay, earliestExpiry, refreshDelay, shortLived, type Random } from "./schedule.ts";
import { nodeCron, type CronStarter } from "./cron.ts";
import type { CredentialSet } from "./plan.ts";
import { abortable } from "../base/abortable.ts";

// Where daemon.ts and older callers import it from.
export { abortable } from "../base/abortable.ts";
import { verifyMinted, type CredentialCheck, type VerifyPolicy } from "../registry/rollout.ts";

/**
 * Longest timer ever armed. Node fires timers over 2^31-1 ms at once (a hot loop for a
 * credential that expires in a year), and a daily re-check is cheap.
 */
export const MAX_TIMER_MS = 24 * 3_600_000;

export interface RegistryRuntime {
  name: string;
  kind: string;
  policy: RefreshPolicy;
  provider: Provider;
  /** Check each new credential with its registry before it replaces the current one; null/absent: off. */
  verify?: VerifyPolicy | null;
}

/** What the registry said of the credential in use (rejected ones are never in use). */
export interface VerificationStatus {
  result: "accepted" | "unreachable" | "unverifiable";
  message: string;
  at: Date;
}

export interface RegistryStatus {
  name: string;
  provider: string;
  /** pending: never minted; ok; expired: the newest credential is past its expiry; failing: last attempt failed. */
  state: "pending" | "ok" | "expired" | "failing";
  usable: boolean;
  registries: string[];
  expiresAt: Date | null;
  lastSuccess: Date | null;
  lastAttempt: Date | null;
  lastError: { reason: FailureReason; message: string; at: Date } | null;
  consecutiveFailures: number;
  nextRefreshAt: Date | null;
  /** Verification before rollout (`registryCheck`) is on for this registry. */
  registryCheck: boolean;
  /** null: not checked (verification off, or the credential was read back from the cluster). */
  verification: VerificationStatus | null;
}

export interface RefresherDeps {
  log: Logger;
  metrics: Metrics;
  random?: Random;
  now?: () => number;
  cron?: CronStarter;
  /** Called when a registry's usable credentials change (new value, or last good dropped). */
  onChange?: (registry: string) => void;
  /** Called on every failed refresh, with the classified reason and the redacted message. */
  onFailure?: (registry: string, reason: FailureReason, message: string) => void;
  /** The registry handshake behind `registryCheck`; without it no credential is checked before rollout. */
  verify?: CredentialCheck;
}

interface Entry {
  rt: RegistryRuntime;
  credentials: Credential[] | null;
  expiresAt: Date | null;
  lastSuccess: number | null;
  lastAttempt: number | null;
  lastError: RegistryStatus["lastError"];
  failures: number;
  nextRefreshAt: number | null;
  timer?: NodeJS.Timeout;
  expiryTimer?: NodeJS.Timeout;
  inFlight: Promise<void> | null;
  again: boolean;
  controller: AbortController | null;
  attempted: boolean;
  stops: Array<() => void>;
  /** The credentials came from the cluster (what regcred wrote before), not from a mint. */
  seeded: boolean;
  /** The redactor's hold on the values of the credentials in use; released once superseded. */
  scope: RedactionScope | null;
  warnedShortLived: boolean;
  verification: VerificationStatus | null;
}

/**
 * Keeps the newest good credential per registry. Each registry has its own timers and its own
 * in-flight mint, so one slow or failing provider delays no other. Knows nothing of namespaces.
 */
export class Refresher {
  private readonly entries = new Map<string, Entry>();
  private readonly log: Logger;
  private readonly metrics: Metrics;
  private readonly random: Random;
  private readonly now: () => number;
  private readonly cron: CronStarter;
  private readonly onChange: (registry: string) => void;
  private readonly onFailure: (registry: string, reason: FailureReason, message: string) => void;
  private readonly check: CredentialCheck | undefined;
  private stopped = false;
  private readonly settledWaiters: Array<() => void> = [];

  constructor(registries: readonly RegistryRuntime[], deps: RefresherDeps) {
    this.log = deps.log;
    this.metrics = deps.metrics;
    this.random = deps.random ?? Math.random;
    this.now = deps.now ?? Date.now;
    this.cron = deps.cron ?? nodeCron;
    this.onChange = deps.onChange ?? (() => {});
    this.onFailure = deps.onFailure ?? (() => {});
    this.check = deps.verify;
    for (const rt of registries) {
      this.entries.set(rt.name, {
        rt,
        credentials: null,
        expiresAt: null,
        lastSuccess: null,
        lastAttempt: null,
        lastError: null,
        failures: 0,
        nextRefreshAt: null,
        inFlight: null,
        again: false,
        controller: null,
        attempted: false,
        stops: [],
        seeded: false,
        scope: null,
        warnedShortLived: false,
        verification: null,
      });
    }
  }

  /**
   * Before start(): the credential the cluster still holds for a registry (last good, read back
   * from regcred's own Secrets). It is used until a mint replaces it, or, while mints fail,
   * until it expires; an expired one is ignored. So a restart or a new leader never writes a
   * Secret without an entry that still works.
   */
  seed(registry: string, credentials: readonly Credential[]): boolean {
    const entry = this.entries.get(registry);
    if (!entry || entry.credentials || entry.attempted || credentials.length === 0) return false;
    const expiresAt = earliestExpiry(credentials.map((c) => c.expiresAt));
    if (expiresAt && expiresAt.getTime() <= this.now()) return false;
    this.hold(entry, new RedactionScope(), credentials);
    entry.credentials = [...credentials];
    entry.expiresAt = expiresAt;
    entry.seeded = true;
    entry.verification = null;
    // The expiry alert watches what the Secrets hold, minted by this process or not.
    if (expiresAt)
      this.metrics.credentialExpiry.set({ registry, provider: entry.rt.kind }, expiresAt.getTime() / 1000);
    this.log.info(
      { registry, provider: entry.rt.kind, expiresAt: expiresAt?.toISOString() ?? null },
      `starting from the credential for ${registry} that the cluster holds (valid until ${expiresAt?.toISOString() ?? "replaced"})`,
    );
    return true;
  }

  start(): void {
    for (const entry of this.entries.values()) {
      const { rt } = entry;
      if (rt.provider.watch)
        entry.stops.push(rt.provider.watch(() => void this.attempt(entry, "source changed")));
      if (rt.policy.schedule)
        entry.stops.push(this.cron(rt.policy.schedule, () => void this.attempt(entry, "schedule")));
      void this.attempt(entry, "start");
    }
  }

  /** Mint now (coalesced with one in flight). Resolves when that attempt is done. */
  refresh(registry: string, why = "requested"): Promise<void> {
    const entry = this.entries.get(registry);
    if (!entry) return Promise.reject(new Error(`unknown registry ${registry}`));
    return this.attempt(entry, why);
  }

  /** Resolves once every registry has finished at least one attempt, good or bad. */
  settled(): Promise<void> {
    if ([...this.entries.values()].every((e) => e.attempted)) return Promise.resolve();
    return new Promise((resolve) => this.settledWaiters.push(resolve));
  }

  /** Stops timers, cron and watches; aborts in-flight mints and waits for them to unwind. */
  async stop(): Promise<void> {
    this.stopped = true;
    const inFlight: Array<Promise<void>> = [];
    for (const entry of this.entries.values()) {
      clearTimeout(entry.timer);
      clearTimeout(entry.expiryTimer);
      entry.stops.forEach((stop) => stop());
      entry.stops = [];
      entry.controller?.abort(new ProviderError("timeout", "shutting down"));
      if (entry.inFlight) inFlight.push(entry.inFlight);
    }
    await Promise.allSettled(inFlight);
  }

  /** Usable credentials per registry: fresh, or last good until it expires. */
  credentials(): CredentialSet {
    const now = this.now();
    const set = new Map<string, readonly Credential[]>();
    for (const [name, entry] of this.entries) {
      if (this.usable(entry, now)) set.set(name, entry.credentials!);
    }
    return set;
  }

  status(): RegistryStatus[] {
    const now = this.now();
    return [...this.entries.values()].map((e) => ({
      name: e.rt.name,
      provider: e.rt.kind,
      state: this.state(e, now),
      usable: this.usable(e, now),
      registries: [...new Set(e.credentials?.flatMap((c) => c.registries) ?? [])],
      expiresAt: e.expiresAt,
      lastSuccess: e.lastSuccess === null ? null : new Date(e.lastSuccess),
      lastAttempt: e.lastAttempt === null ? null : new Date(e.lastAttempt),
      lastError: e.lastError,
      consecutiveFailures: e.failures,
      nextRefreshAt: e.nextRefreshAt === null ? null : new Date(e.nextRefreshAt),
      registryCheck: Boolean(e.rt.verify && this.check),
      verification: e.verification,
    }));
  }

  private state(e: Entry, now: number): RegistryStatus["state"] {
    if (e.lastError) return "failing";
    if (!e.credentials) return "pending";
    if (e.expiresAt && e.expiresAt.getTime() <= now) return "expired";
    return "ok";
  }

  // A credential that arrived already expired is still used (the registry may accept it, and
  // nothing better exists); once a later attempt fails, an expired one is dropped.
  private usable(e: Entry, now: number): boolean {
    if (!e.credentials) return false;
    if (!e.expiresAt || e.expiresAt.getTime() > now) return true;
    return e.lastError === null;
  }

  private attempt(entry: Entry, why: string): Promise<void> {
    if (this.stopped) return Promise.resolve();
    if (entry.inFlight) {
      entry.again = true;
      return entry.inFlight;
    }
    clearTimeout(entry.timer);
    entry.inFlight = this.mint(entry, why).finally(() => {
      entry.inFlight = null;
      if (!entry.attempted) {
        entry.attempted = true;
        if ([...this.entries.values()].every((e) => e.attempted))
          this.settledWaiters.splice(0).forEach((r) => r());
      }
      if (entry.again && !this.stopped) {
        entry.again = false;
        void this.attempt(entry, "coalesced");
      }
    });
    return entry.inFlight;
  }

  private async mint(entry: Entry, why: string): Promise<void> {
    const { rt } = entry;
    const labels = { registry: rt.name, provider: rt.kind };
    const started = this.now();
    entry.lastAttempt = started;
    const controller = new AbortController();
    entry.controller = controller;
    const timeout = setTimeout(
      () =>
        controller.abort(
          new ProviderError("timeout", `mint took longer than ${formatDuration(rt.policy.timeout)}`),
        ),
      rt.policy.timeout,
    );
    this.log.debug({ ...labels, why }, "refreshing credential");
    // Whatever the provider registers with the redactor while minting (the token, exchange
    // tokens on the way) belongs to this credential and is let go once it is superseded.
    const scope = new RedactionScope();
    try {
      const credentials = await abortable(
        scope.run(() => rt.provider.mint(controller.signal, { current: entry.credentials })),
        controller.signal,
      );
      if (this.stopped) return scope.release();
      checkCredentials(credentials);
      // The mint's timeout is the provider's; the handshake has its own (registryCheck.timeout), and
      // running out of it means unreachable, not a failed refresh.
      clearTimeout(timeout);
      const verification = await scope.run(() => this.verify(entry, credentials, controller.signal));
      if (this.stopped) return scope.release();
      this.succeeded(entry, credentials, started, scope, verification);
    } catch (err) {
      if (this.stopped) return scope.release();
      this.failed(entry, err, started);
      // After failed() has logged and redacted the error: an echoed value is masked there.
      scope.release();
    } finally {
      clearTimeout(timeout);
      entry.controller = null;
    }
  }

  /**
   * Asks the registry about new credentials before they replace the current ones. A rejection
   * throws, so it takes the failure path (last good kept, back-off, Event); an unreachable or
   * unverifiable registry lets them through, marked so. Honours the mint's abort (stop, lost
   * leadership) like the mint itself.
   */
  private async verify(
    entry: Entry,
    credentials: Credential[],
    signal: AbortSignal,
  ): Promise<VerificationStatus | null> {
    const { rt } = entry;
    if (!rt.verify || !this.check) return null;
    // Masked from here on: a rejected credential is released with its scope after failed() logs.
    credentials.forEach((c) => registerAuth(c.username, c.password));
    const v = await abortable(verifyMinted(credentials, rt.verify, this.check, signal), signal);
    this.metrics.recordVerification(rt.name, rt.kind, v.result);
    if (v.result === "rejected") {
      throw new ProviderError("rejected", `the registry rejected the new credential: ${v.message}`);
    }
    return { result: v.result, message: v.message, at: new Date(this.now()) };
  }

  /** Masks a credential's password and auth string for as long as it is in use. */
  private hold(entry: Entry, scope: RedactionScope, credentials: readonly Credential[]): void {
    scope.run(() => credentials.forEach((c) => registerAuth(c.username, c.password)));
    entry.scope?.release();
    entry.scope = scope;
  }

  private succeeded(
    entry: Entry,
    credentials: Credential[],
    started: number,
    scope: RedactionScope,
    verification: VerificationStatus | null,
  ): void {
    const { rt } = entry;
    const labels = { registry: rt.name, provider: rt.kind };
    this.hold(entry, scope, credentials);
    const now = this.now();
    const expiresAt = earliestExpiry(credentials.map((c) => c.expiresAt));
    const changed = !sameCredentials(entry.credentials, credentials);
    const wasFailing = entry.lastError !== null;
    entry.credentials = credentials;
    entry.expiresAt = expiresAt;
    entry.seeded = false;
    entry.verification = verification;
    this.metrics.recordVerified(rt.name, rt.kind, verification?.result ?? null);
    entry.lastSuccess = now;
    entry.lastError = null;
    entry.failures = 0;
    clearTimeout(entry.expiryTimer);
    const expired = expiresAt !== null && expiresAt.getTime() <= now;
    this.metrics.recordRefresh(rt.name, rt.kind, {
      result: expired ? "expired" : "success",
      seconds: (now - started) / 1000,
    });
    this.metrics.recordCredential(rt.name, rt.kind, expiresAt, now);
    this.metrics.registryUp.set(labels, 1);
    const delay = refreshDelay(rt.policy, now, expiresAt, this.random);
    this.schedule(entry, delay);
    const fields = {
      ...labels,
      expiresAt: expiresAt?.toISOString() ?? null,
      nextRefreshIn: delay === null ? null : formatDuration(delay),
      ...(verification ? { verification: verification.result } : {}),
    };
    if (verification && verification.result !== "accepted") {
      this.log.warn(
        fields,
        `credential for ${rt.name} rolled out unverified (${verification.result}): ${verification.message}`,
      );
    }
    if (!expired && shortLived(rt.policy, now, expiresAt) && !entry.warnedShortLived) {
      entry.warnedShortLived = true;
      this.log.warn(
        { ...fields, minInterval: formatDuration(rt.policy.minInterval) },
        `credential for ${rt.name} lives ${formatDuration(expiresAt!.getTime() - now)}, no longer than refresh.minInterval (${formatDuration(rt.policy.minInterval)}): refreshing before it expires anyway`,
      );
    }
    if (expired) {
      this.log.warn(
        fields,
        `credential for ${rt.name} arrived already expired (clock skew, or a test server): using it, retrying in ${formatDuration(delay!)}`,
      );
    } else if (wasFailing) {
      this.log.info(fields, `credential for ${rt.name} refreshed: recovered after failures`);
    } else {
      this.log.info(fields, `credential for ${rt.name} refreshed`);
    }
    if (changed) this.onChange(rt.name);
  }

  private failed(entry: Entry, err: unknown, started: number): void {
    const { rt } = entry;
    const labels = { registry: rt.name, provider: rt.kind };
    const now = this.now();
    const reason = failureReason(err);
    const message = redact(err instanceof Error ? err.message : String(err));
    const wasUsable = this.usable(entry, now);
    entry.failures += 1;
    entry.lastError = { reason, message, at: new Date(now) };
    this.metrics.recordRefresh(rt.name, rt.kind, {
      result: "failure",
      reason,
      seconds: (now - started) / 1000,
    });
    const delay = backoffDelay(rt.policy, entry.failures, this.random);
    this.schedule(entry, delay);
    const requestId = err instanceof ProviderError ? err.requestId : undefined;
    const keeping = this.usable(entry, now);
    this.metrics.registryUp.set(labels, keeping ? 1 : 0);
    this.log.error(
      { ...labels, reason, requestId, failures: entry.failures, retryIn: formatDuration(delay), err },
      `refresh of ${rt.name} failed (${reason}): ${message}; ${keeping ? `keeping last good credential until ${entry.expiresAt?.toISOString() ?? "it is replaced"}` : "no usable credential"}`,
    );
    this.onFailure(rt.name, reason, message);
    if (wasUsable && !keeping) this.onChange(rt.name);
    if (keeping && entry.expiresAt) this.armExpiry(entry, entry.expiresAt.getTime() - now);
  }

  /** While failing, drop the last good credential the moment it expires. */
  private armExpiry(entry: Entry, delay: number): void {
    clearTimeout(entry.expiryTimer);
    entry.expiryTimer = setTimeout(
      () => {
        if (this.stopped || entry.lastError === null) return;
        const left = (entry.expiresAt?.getTime() ?? 0) - this.now();
        if (left > 0) return this.armExpiry(entry, left);
        const labels = { registry: entry.rt.name, provider: entry.rt.kind };
        this.metrics.registryUp.set(labels, 0);
        this.log.error(
          labels,
          `last good credential for ${entry.rt.name} expired while refreshes fail: dropped from Secrets`,
        );
        this.onChange(entry.rt.name);
      },
      Math.min(delay, MAX_TIMER_MS),
    );
    entry.expiryTimer.unref?.();
  }

  private schedule(entry: Entry, delay: number | null): void {
    clearTimeout(entry.timer);
    if (delay === null || this.stopped) {
      entry.nextRefreshAt = null;
      return;
    }
    const capped = Math.min(delay, MAX_TIMER_MS);
    entry.nextRefreshAt = this.now() + capped;
    entry.timer = setTimeout(() => void this.attempt(entry, "scheduled"), capped);
    entry.timer.unref?.();
  }
}

function checkCredentials(credentials: Credential[]): void {
  if (!Array.isArray(credentials) || credentials.length === 0) {
    throw new ProviderError("invalid_response", "provider returned no credentials");
  }
  for (const c of credentials) {
    if (!c.password) throw new ProviderError("invalid_response", "provider returned an empty password");
    if (c.registries.length === 0)
      throw new ProviderError("invalid_response", "provider returned a credential for no registry");
  }
}

function sameCredentials(a: Credential[] | null, b: Credential[]): boolean {
  if (!a || a.length !== b.length) return false;
  return a.every(
    (x, i) =>
      x.username === b[i]!.username &&
      x.password === b[i]!.password &&
      (x.expiresAt?.getTime() ?? null) === (b[i]!.expiresAt?.getTime() ?? null) &&
      x.registries.join("\n") === b[i]!.registries.join("\n"),
  );
}
