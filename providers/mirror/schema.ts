import * as z from "zod/mini";
import { registryEntry, registryKey, resourceName } from "../kit.ts";

/** Secret names are DNS subdomains (dots allowed), unlike namespaces. */
const secretName = z
  .string()
  .check(
    z.maxLength(253, "expected at most 253 characters"),
    z.regex(
      /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/,
      "expected a Secret name: lowercase [a-z0-9.-], starting and ending alphanumeric",
    ),
  );

export const mirrorSchema = registryEntry("mirror", {
  /** The Secret to copy: a kubernetes.io/dockerconfigjson (or legacy kubernetes.io/dockercfg) Secret. */
  source: z.strictObject({ namespace: resourceName, name: secretName }),
  /** Only these auth keys are mirrored; default: every auth in the source. */
  registries: z.optional(
    z.array(registryKey).check(z.minLength(1, "expected at least one registry host, or leave it out")),
  ),
  /** Which data key holds the config; default: the one the Secret's type implies. */
  key: z.optional(
    z.enum([".dockerconfigjson", ".dockercfg"], { error: 'expected ".dockerconfigjson" or ".dockercfg"' }),
  ),
});

export type MirrorSettings = z.infer<typeof mirrorSchema>;

// The source Secret's config, parsed rather than cast. Read as kubelet reads it
// (pkg/credentialprovider/config.go): a field of the wrong type counts as absent.

/** The registries map: `.dockercfg` is this map itself, `.dockerconfigjson` wraps it in auths. */
export const authsMap = z.record(z.string(), z.unknown());
export const dockerConfigJson = z.looseObject({ auths: authsMap });

/** One auths entry: `auth` (base64 user:pass) wins over username/password. */
export const authEntry = z.looseObject({
  auth: z.catch(z.optional(z.string()), undefined),
  username: z.catch(z.string(), ""),
  password: z.catch(z.string(), ""),
});
