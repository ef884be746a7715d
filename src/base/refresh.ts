import * as z from "./zod.ts";
import cron from "node-cron";
import { duration, formatDuration, timerDuration } from "./duration.ts";

const cronSchedule = z.string().check(
  z.refine((expr) => cron.validate(expr), {
    message: 'expected a cron expression such as "0 */6 * * *" (5 or 6 fields)',
  }),
);

const fraction = (min: number, max: number, what: string) =>
  z
    .number({ error: `expected a number, ${what}` })
    .check(z.gte(min, `expected ${what}`), z.lte(max, `expected ${what}`));

const HOT_LOOP = "shorter retries are a hot loop against the provider";

const retryFields = {
  initial: timerDuration(1_000, HOT_LOOP),
  max: timerDuration(1_000, HOT_LOOP),
};

const refreshFields = {
  /** Refresh when this fraction of the credential's remaining lifetime has passed. */
  at: fraction(0.05, 0.95, "a fraction between 0.05 and 0.95"),
  /** Spread refreshes by up to this fraction either way, so replicas and registries don't align. */
  jitter: fraction(0, 0.5, "a fraction between 0 and 0.5"),
  /** Never refresh sooner than this after the last attempt: the floor against hot loops. */
  minInterval: timerDuration(1_000, "the floor against hot loops"),
  /** Never refresh later than this before expiry. */
  margin: duration,
  /** A mint that takes longer than this is aborted and counted as a failure. */
  timeout: timerDuration(1_000, "a shorter timeout fails every mint"),
  retry: z.strictObject(retryFields),
  /** Optional cron expression that forces extra refreshes. */
  schedule: cronSchedule,
};

export interface RefreshPolicy {
  at: number;
  jitter: number;
  minInterval: number;
  margin: number;
  timeout: number;
  retry: { initial: number; max: number };
  schedule?: string | undefined;
}

export const DEFAULT_REFRESH: RefreshPolicy = {
  at: 0.5,
  jitter: 0.1,
  minInterval: 60_000,
  margin: 300_000,
  timeout: 30_000,
  retry: { initial: 5_000, max: 300_000 },
};

/** Every field optional: the top-level policy and per-registry overrides share this shape. */
export const refreshOverride = z.partial(
  z.strictObject({
    ...refreshFields,
    retry: z.partial(z.strictObject(retryFields)),
  }),
);
export type RefreshOverride = z.infer<typeof refreshOverride>;

export function mergeRefresh(base: RefreshPolicy, override: RefreshOverride | undefined): RefreshPolicy {
  if (!override) return base;
  const merged: RefreshPolicy = {
    ...base,
    retry: { ...base.retry, ...stripUndefined(override.retry ?? {}) },
  };
  for (const [key, value] of Object.entries(override)) {
    if (key !== "retry" && value !== undefined) (merged as unknown as Record<string, unknown>)[key] = value;
  }
  return merged;
}

function stripUndefined<T extends object>(obj: T): Partial<T> {
  return Object.fromEntries(Object.entries(obj).filter(([, v]) => v !== undefined)) as Partial<T>;
}

/** Checks that only make sense on the merged policy. */
export function checkPolicy(policy: RefreshPolicy): string[] {
  const problems: string[] = [];
  if (policy.retry.initial > policy.retry.max) problems.push("retry.initial must not exceed retry.max");
  // The refresh comes at most margin before expiry and at least minInterval after the mint; with
  // minInterval <= margin every credential that outlives the margin is renewed before it expires.
  if (policy.minInterval > policy.margin) {
    problems.push(
      `minInterval (${formatDuration(policy.minInterval)}) must not exceed margin (${formatDuration(policy.margin)}): a credential that lives between the two would expire before its refresh`,
    );
  }
  return problems;
}
