import * as z from "./zod.ts";
import { refreshOverride } from "./refresh.ts";
import { registryCheckSetting } from "./registry-check.ts";
import { normalizeRegistryKey } from "./registry-key.ts";

export const resourceName = z
  .string()
  .check(
    z.maxLength(63, "expected at most 63 characters"),
    z.regex(
      /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/,
      "expected a lowercase DNS label ([a-z0-9-], starting and ending alphanumeric)",
    ),
  );

/** A registry auth key, normalized to the form kubelet matches. */
export const registryKey = z.pipe(
  z.string(),
  z.transform((text: string, ctx) => {
    const result = normalizeRegistryKey(text);
    if (!result.ok) {
      ctx.issues.push({ code: "custom", message: result.error, input: text });
      return z.NEVER;
    }
    return result.key;
  }),
);

/**
 * The fields every registries[] entry has, plus the provider's own. Strict: an unknown key is
 * an error, because a typo in a credential setting should never be silently ignored.
 */
export function registryEntry<K extends string, S extends z.core.$ZodShape>(kind: K, shape: S) {
  return z.strictObject({
    name: resourceName,
    provider: z.literal(kind),
    refresh: z.optional(refreshOverride),
    /** Check each new credential with its registry before rollout (README "Verification"). */
    registryCheck: z.optional(registryCheckSetting),
    ...shape,
  });
}
