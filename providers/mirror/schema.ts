import { z } from "zod";
import { registryEntry, registryKey, resourceName } from "../kit.ts";

/** Secret names are DNS subdomains (dots allowed), unlike namespaces. */
const secretName = z
  .string()
  .max(253, "expected at most 253 characters")
  .regex(
    /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/,
    "expected a Secret name: lowercase [a-z0-9.-], starting and ending alphanumeric",
  );

export const mirrorSchema = registryEntry("mirror", {
  /** The Secret to copy: a kubernetes.io/dockerconfigjson (or legacy kubernetes.io/dockercfg) Secret. */
  source: z.strictObject({ namespace: resourceName, name: secretName }),
  /** Only these auth keys are mirrored; default: every auth in the source. */
  registries: z.array(registryKey).min(1, "expected at least one registry host, or leave it out").optional(),
  /** Which data key holds the config; default: the one the Secret's type implies. */
  key: z
    .enum([".dockerconfigjson", ".dockercfg"], { error: 'expected ".dockerconfigjson" or ".dockercfg"' })
    .optional(),
});

export type MirrorSettings = z.infer<typeof mirrorSchema>;

// The source Secret's config, parsed rather than cast. Read as kubelet reads it
// (pkg/credentialprovider/config.go): a field of the wrong type counts as absent.

/** The registries map: `.dockercfg` is this map itself, `.dockerconfigjson` wraps it in auths. */
export const authsMap = z.record(z.string(), z.unknown());
export const dockerConfigJson = z.looseObject({ auths: authsMap });

/** One auths entry: `auth` (base64 user:pass) wins over username/password. */
export const authEntry = z.looseObject({
  auth: z.string().optional().catch(undefined),
  username: z.string().catch(""),
  password: z.string().catch(""),
});
