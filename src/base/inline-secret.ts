import * as z from "./zod.ts";

/**
 * A key that must never hold a value: secret material belongs in a file or environment
 * variable, not in a ConfigMap. Declaring it gives a precise error instead of "unknown key".
 */
export function forbiddenInline(refKey: string) {
  return z.optional(
    z.undefined({
      error: `secret values are never written inline: use ${refKey}: { file: PATH } or { env: NAME }`,
    }),
  );
}
