import * as z from "./zod.ts";
import { timerDuration } from "./duration.ts";

/** What the check before rollout does for one registry (null in the config: it is off). */
export interface VerifyPolicy {
  /** A repository to prove pull rights on (`team/app`), on every host of the credential. */
  repository?: string | undefined;
  timeout: number;
}

/** How long one registry handshake may take by default (a token round trip plus /v2/). */
export const DEFAULT_VERIFY_TIMEOUT = 10_000;

// A repository path as the registry's API spells it: lowercase components separated by "/".
const repository = z
  .string()
  .check(
    z.regex(
      /^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*(?:\/[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*)*$/,
      'expected a repository path without host or tag, such as "team/app"',
    ),
  );

const verifyObject = z.strictObject(
  {
    enabled: z._default(z.boolean(), true),
    /** Prove pull rights on this repository (a scoped token, then its tag list), not only the login. */
    repository: z.optional(repository),
    timeout: z._default(
      timerDuration(1_000, "a shorter timeout makes every check unreachable"),
      DEFAULT_VERIFY_TIMEOUT,
    ),
  },
  {
    error: (issue) =>
      issue.code === "invalid_type" ? "expected true, false or { enabled, repository, timeout }" : undefined,
  },
);

/**
 * `registryCheck:` of a registries[] entry (not `verify`: ghcr has its own, for the PAT). `false`
 * turns the check before rollout off, `true` or an object keeps it on (the default for every
 * provider: see README "Verification").
 */
// zod/mini has no z.preprocess: it is this pipe (classic builds the same, a transform into the schema).
export const registryCheckSetting = z.pipe(
  z.transform((v: unknown) => (typeof v === "boolean" ? { enabled: v } : v)),
  verifyObject,
);
export type RegistryCheckSetting = z.infer<typeof registryCheckSetting>;

/** The settings after defaults; null when verification is off. */
export function verifyPolicy(setting: RegistryCheckSetting | undefined): VerifyPolicy | null {
  if (setting === undefined) return { timeout: DEFAULT_VERIFY_TIMEOUT };
  if (!setting.enabled) return null;
  return { timeout: setting.timeout, ...(setting.repository ? { repository: setting.repository } : {}) };
}
