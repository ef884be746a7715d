import * as z from "../base/zod.ts";
import { timerDuration } from "../base/duration.ts";

/**
 * Reacting to kubelet's pull failures (src/engine/pull-reactions.ts): refresh the registry a
 * Pod was refused by, re-apply a missing Secret. On by default: it only reads Events and Pods.
 */
export const pullFailuresSchema = z._default(
  z.strictObject({
    enabled: z._default(z.boolean(), true),
    /** At most one refresh per registry in this window, however many Pods fail at once. */
    minInterval: z._default(timerDuration(1_000, "shorter is a refresh storm when many Pods fail"), 60_000),
  }),
  { enabled: true, minInterval: 60_000 },
);

/**
 * Deleting Pods that can never pull (opt-in): created before regcred wired their
 * ServiceAccount, so they carry no pull Secret; their controller recreates them with it.
 * Turning it on also grants regcred `pods delete` (the chart and `regcred rbac -c` read it from the config).
 */
export const healingSchema = z._default(
  z.strictObject({
    enabled: z._default(z.boolean(), false),
    /** Pod deletions allowed per minute across the cluster (a burst of that size, then a steady rate). */
    maxPerMinute: z._default(
      z
        .number()
        .check(
          z.int("expected a whole number"),
          z.gte(1, "expected at least 1 (0 would never heal)"),
          z.lte(600, "expected at most 600 (10 deletions a second)"),
        ),
      10,
    ),
  }),
  { enabled: false, maxPerMinute: 10 },
);

export type PullFailuresConfig = z.infer<typeof pullFailuresSchema>;
export type HealingConfig = z.infer<typeof healingSchema>;
