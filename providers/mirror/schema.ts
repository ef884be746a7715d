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
