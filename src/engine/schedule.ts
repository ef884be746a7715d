import type { RefreshPolicy } from "../base/refresh.ts";

/** A source of uniform numbers in [0, 1); injected so tests can pin jitter. */
export type Random = () => number;

/** Spreads a delay by up to ±jitter of itself. */
export function withJitter(ms: number, jitter: number, random: Random): number {
  return ms * (1 + jitter * (2 * random() - 1));
}

/** Soonest refresh of a credential that lives shorter than minInterval: bounds the rate. */
export const SHORT_LIVED_FLOOR_MS = 1_000;

/** Whether a credential lives no longer than minInterval, so the floor would let it expire first. */
export function shortLived(policy: RefreshPolicy, now: number, expiresAt: Date | null): boolean {
  const remaining = expiresAt === null ? Infinity : expiresAt.getTime() - now;
  return remaining > 0 && remaining <= policy.minInterval;
}

/**
 * How long to wait before refreshing a credential minted now. At `at` of the remaining
 * lifetime (jittered), never later than `margin` before expiry, never sooner than
 * `minInterval` (the floor wins: an already-expired credential waits minInterval, so no
 * hot loop) — except for a credential that lives no longer than minInterval: it is refreshed
 * at `at` of its life, before it expires, but never sooner than SHORT_LIVED_FLOOR_MS.
 * null: the credential does not expire, nothing to schedule.
 */
export function refreshDelay(
  policy: RefreshPolicy,
  now: number,
  expiresAt: Date | null,
  random: Random,
): number | null {
  if (expiresAt === null) return null;
  const remaining = expiresAt.getTime() - now;
  if (remaining <= 0) return policy.minInterval;
  const planned = withJitter(remaining * policy.at, policy.jitter, random);
  if (shortLived(policy, now, expiresAt))
    return Math.max(SHORT_LIVED_FLOOR_MS, Math.min(planned, remaining * 0.9));
  const latest = remaining - policy.margin;
  return Math.max(policy.minInterval, Math.min(planned, latest));
}

/** Exponential backoff after the n-th consecutive failure (n >= 1), jittered, capped at retry.max. */
export function backoffDelay(policy: RefreshPolicy, failures: number, random: Random): number {
  const exponential = policy.retry.initial * 2 ** Math.max(0, failures - 1);
  const capped = Math.min(exponential, policy.retry.max);
  return Math.min(policy.retry.max, withJitter(capped, policy.jitter, random));
}

/** The earliest expiry among credentials; null when none expires. */
export function earliestExpiry(dates: Iterable<Date | null>): Date | null {
  let earliest: Date | null = null;
  for (const d of dates) if (d && (!earliest || d < earliest)) earliest = d;
  return earliest;
}
