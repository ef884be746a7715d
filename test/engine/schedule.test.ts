import { describe, expect, it } from "vitest";
import { backoffDelay, earliestExpiry, refreshDelay, withJitter } from "../../src/engine/schedule.ts";
import { DEFAULT_REFRESH, type RefreshPolicy } from "../../src/base/refresh.ts";

const H = 3_600_000;
const M = 60_000;
const policy: RefreshPolicy = { ...DEFAULT_REFRESH, at: 0.5, jitter: 0.1, minInterval: M, margin: 5 * M };
const now = Date.parse("2026-11-22T00:00:00Z");
const at = (ms: number) => new Date(now + ms);

describe("refreshDelay", () => {
  it("refreshes at `at` of the remaining lifetime when jitter is centred", () => {
    expect(refreshDelay(policy, now, at(12 * H), () => 0.5)).toBe(6 * H);
  });

  it("keeps jitter within ±jitter of the planned point", () => {
    expect(refreshDelay(policy, now, at(12 * H), () => 0)).toBeCloseTo(6 * H * 0.9);
    expect(refreshDelay(policy, now, at(12 * H), () => 0.999999)).toBeCloseTo(6 * H * 1.1, -2);
    for (let i = 0; i < 1000; i++) {
      const d = refreshDelay(policy, now, at(12 * H), Math.random)!;
      expect(d).toBeGreaterThanOrEqual(6 * H * 0.9);
      expect(d).toBeLessThanOrEqual(6 * H * 1.1);
    }
  });

  it("never plans later than the safety margin before expiry", () => {
    const late = { ...policy, at: 0.95, jitter: 0.5 };
    // 95% of 1 h + 50% jitter would be past expiry; the margin caps it at 55 min.
    expect(refreshDelay(late, now, at(H), () => 0.999)).toBe(H - 5 * M);
  });

  it("never refreshes sooner than minInterval, even for a short-lived token", () => {
    // 5-minute token: half-life 2.5 min but margin says "now"; the floor wins.
    expect(refreshDelay(policy, now, at(5 * M), () => 0.5)).toBe(M);
    expect(refreshDelay(policy, now, at(10 * M), () => 0.5)).toBe(5 * M);
  });

  it("retries an already-expired credential at minInterval, not at once", () => {
    expect(refreshDelay(policy, now, at(-365 * 24 * H), () => 0.5)).toBe(M);
    expect(refreshDelay(policy, now, at(0), () => 0.5)).toBe(M);
  });

  it("schedules nothing for a credential that does not expire", () => {
    expect(refreshDelay(policy, now, null, () => 0.5)).toBeNull();
  });
});

describe("backoffDelay", () => {
  const p = { ...policy, jitter: 0, retry: { initial: 5_000, max: 300_000 } };

  it("doubles from retry.initial", () => {
    expect([1, 2, 3, 4, 5].map((n) => backoffDelay(p, n, () => 0.5))).toEqual([
      5_000, 10_000, 20_000, 40_000, 80_000,
    ]);
  });

  it("caps at retry.max, jitter included", () => {
    expect(backoffDelay(p, 7, () => 0.5)).toBe(300_000);
    expect(backoffDelay(p, 50, () => 0.5)).toBe(300_000);
    const jittery = { ...p, jitter: 0.5 };
    for (const r of [0, 0.5, 0.99]) expect(backoffDelay(jittery, 30, () => r)).toBeLessThanOrEqual(300_000);
  });

  it("jitters within bounds below the cap", () => {
    const jittery = { ...p, jitter: 0.2 };
    expect(backoffDelay(jittery, 2, () => 0)).toBeCloseTo(8_000);
    expect(backoffDelay(jittery, 2, () => 0.999999)).toBeCloseTo(12_000, -1);
  });
});

describe("helpers", () => {
  it("withJitter is identity with zero jitter", () => {
    expect(withJitter(1234, 0, Math.random)).toBe(1234);
  });

  it("earliestExpiry ignores nulls and picks the first to expire", () => {
    expect(earliestExpiry([null, at(2 * H), at(H), null])).toEqual(at(H));
    expect(earliestExpiry([null, null])).toBeNull();
  });
});
