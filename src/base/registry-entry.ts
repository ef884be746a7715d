import { z } from "zod";
import { refreshOverride } from "./refresh.ts";
import { registryCheckSetting } from "./registry-check.ts";
import { normalizeRegistryKey } from "./registry-key.ts";

export const resourceName = z
  .string()
  .max(63, "expected at most 63 characters")
  .regex(
    /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/,
    "expected a lowercase DNS label ([a-z0-9-], starting and ending alphanumeric)",
  );

/** A registry auth key, normalized to the form kubelet matches. */
export const registryKey = z.string().transform((text, ctx) => {
  const result = normalizeRegistryKey(text);
  if (!result.ok) {
    ctx.addIssue({ code: "custom", message: result.error });
    return z.NEVER;
  }
  return result.key;
});

/**
 * The fields every registries[] entry has, plus the provider's own. Strict: an unknown key is
 * an error, because a typo in a credential setting should never be silently ignored.
 */
export function registryEntry<K extends string, S extends z.ZodRawShape>(kind: K, shape: S) {
  return z.strictObject({
    name: resourceName,
    provider: z.literal(kind),
    refresh: refreshOverride.optional(),
    /** Check each new credential with its registry before rollout (README "Verification"). */
    registryCheck: registryCheckSetting.optional(),
    ...shape,
  });
}
