import * as z from "zod/mini";
import { registryEntry, registryKey, duration, formatDuration } from "../kit.ts";

export const CLOUD_PLATFORM_SCOPE = "https://www.googleapis.com/auth/cloud-platform";

// Container Registry's hosts, and Artifact Registry's Docker hosts: one per region
// (europe-west1-docker.pkg.dev) plus the three multi-regions (us, europe, asia).
const GCR_HOST = /^(?:(?:us|eu|asia)\.)?gcr\.io$/;
const AR_HOST = /^(?:[a-z]+-[a-z]+\d+|us|europe|asia)-docker\.pkg\.dev$/;

export function isGoogleRegistryKey(key: string): boolean {
  const host = key.split("/", 1)[0]!;
  return GCR_HOST.test(host) || AR_HOST.test(host);
}

/**
 * An auth key on a Google registry host, optionally with a path prefix
 * (europe-docker.pkg.dev/my-project) when several identities share one host.
 */
const googleRegistryKey = registryKey.check(
  z.refine(isGoogleRegistryKey, {
    error: (issue) =>
      `expected a Google registry host (gcr.io, us.gcr.io, eu.gcr.io, asia.gcr.io, REGION-docker.pkg.dev, ` +
      `us-docker.pkg.dev, europe-docker.pkg.dev, asia-docker.pkg.dev), got ${JSON.stringify(issue.input)}`,
  }),
);

// An email, or the numeric unique ID IAM also accepts. Either goes into a URL path, so no "/" or ":".
const serviceAccountId = z
  .string()
  .check(
    z.regex(
      /^(?:[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)+|\d+)$/,
      "expected a service account email such as puller@my-project.iam.gserviceaccount.com",
    ),
  );

// IAM Credentials accepts up to 1 h, or 12 h where the org policy allows the extension.
const MAX_LIFETIME_MS = 12 * 3_600_000;
const lifetime = duration.check(
  z.refine((ms: number) => ms >= 1_000 && ms <= MAX_LIFETIME_MS && ms % 1_000 === 0, {
    error: (issue) =>
      `expected whole seconds between 1s and ${formatDuration(MAX_LIFETIME_MS)}, got ${formatDuration(issue.input as number)}`,
  }),
);

/**
 * A non-Google key for the same token, spelled out as `{ host: ... }` so that a typo in a Google
 * host is still an error: a pull-through cache or mirror in front of Artifact Registry.
 */
const extraHost = z.pipe(
  z.strictObject({ host: registryKey }),
  z.transform((alias: { host: string }) => alias.host),
);

// Strings must be Google hosts; objects name any other host explicitly.
const gcrRegistry = z.union([z.pipe(z.string(), googleRegistryKey), extraHost], {
  error: (issue) =>
    typeof issue.input === "string"
      ? undefined
      : "expected a Google registry host, or { host: HOST } for another host",
});

export const gcrSchema = registryEntry("gcr", {
  /** Auth keys to write the one minted token under. */
  registries: z.array(gcrRegistry).check(z.minLength(1, "expected at least one registry host")),
  /**
   * A service account key or an external_account (workload identity federation) JSON, mounted
   * from a Secret or ConfigMap. Unset: Application Default Credentials.
   */
  credentialsFile: z.optional(z.string().check(z.minLength(1, "expected a file path"))),
  /** Take the token straight from the metadata server (GKE Workload Identity, GCE), skipping ADC's search. */
  metadataServer: z.optional(z.boolean()),
  scopes: z._default(
    z.array(z.string().check(z.minLength(1))).check(z.minLength(1, "expected at least one scope")),
    [CLOUD_PLATFORM_SCOPE],
  ),
  /** Mint the token for this service account, through the source identity (IAM Credentials generateAccessToken). */
  impersonate: z.optional(
    z.strictObject({
      serviceAccount: serviceAccountId,
      /** Chain of service accounts between the source and the target, each Token Creator on the next. */
      delegates: z.optional(z.array(serviceAccountId)),
      /** Requested token lifetime; IAM's default is 1h. */
      lifetime: z.optional(lifetime),
    }),
  ),
  credentials: z.optional(
    z.undefined({
      error:
        "key material is never written inline: mount the key file from a Secret and set credentialsFile: PATH",
    }),
  ),
}).check(
  z.superRefine((entry, ctx) => {
    if (entry.credentialsFile !== undefined && entry.metadataServer) {
      ctx.addIssue({
        code: "custom",
        path: ["metadataServer"],
        message: "expected at most one of credentialsFile or metadataServer",
      });
    }
  }),
);

export type GcrSettings = z.infer<typeof gcrSchema>;

/**
 * Google's error bodies, as google-auth-library hands them on (response.data): an OAuth 2.0
 * token endpoint error {"error": "invalid_grant"} (RFC 6749 5.2), or a Google API error
 * {"error": {"status": "PERMISSION_DENIED", ...}}.
 */
export const googleErrorBody = z.union([
  z.object({ error: z.string() }),
  z.object({ error: z.object({ status: z.string() }) }),
]);
