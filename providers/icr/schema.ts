import * as z from "zod/mini";
import {
  baseUrl,
  exactlyOne,
  isLoopbackHost,
  registryEntry,
  registryKey,
  secretRef,
  forbiddenInline,
} from "../kit.ts";

export const IAM_ENDPOINT = "https://iam.cloud.ibm.com";
/** Where IKS and ROKS docs project the service account token for IAM (audience "iam"). */
export const DEFAULT_CR_TOKEN_FILE = "/var/run/secrets/tokens/sa-token";
/** The token operation under the IAM base URL. */
export const TOKEN_PATH = "/identity/token";

/** The global registry and the regional ones (IBM Cloud docs, "Regions"); each has a private. form. */
export const ICR_REGIONS = ["au", "br", "ca", "de", "es", "jp", "jp2", "uk", "us"] as const;
const ICR_HOST = new RegExp(`^(?:private\\.)?(?:(?:${ICR_REGIONS.join("|")})\\.)?icr\\.io$`);
/** The entitled registry: it takes user `cp` and an entitlement key, never an IAM token. */
const ENTITLED_HOST = "cp.icr.io";

export function isIcrRegistryKey(key: string): boolean {
  return ICR_HOST.test(key.split("/", 1)[0]!);
}

/**
 * An auth key on an IBM Cloud Container Registry domain, optionally with a namespace path
 * (us.icr.io/team-a) when different identities pull from different namespaces of one domain.
 */
const icrRegistryKey = registryKey.check(
  z.superRefine((key: string, ctx) => {
    const host = key.split("/", 1)[0]!;
    if (host === ENTITLED_HOST) {
      ctx.addIssue({
        code: "custom",
        message:
          "cp.icr.io is the entitled registry: it takes user cp and an entitlement key, not an IAM token; " +
          "use a static registry entry (see providers/icr/README.md)",
      });
    } else if (!isIcrRegistryKey(key)) {
      ctx.addIssue({
        code: "custom",
        message:
          `expected an IBM Cloud Container Registry domain: icr.io or REGION.icr.io (REGION one of ` +
          `${ICR_REGIONS.join(", ")}), or its private. form, got ${JSON.stringify(key)}`,
      });
    }
  }),
);

/**
 * IAM's base URL: https://iam.cloud.ibm.com, https://private.iam.cloud.ibm.com on the private
 * network, or a regional private endpoint. As IBM's SDKs do, a URL that already ends in
 * /identity/token is taken as the base. https only: the API key or compute-resource token goes
 * in the body.
 */
const iamEndpoint = z.pipe(
  baseUrl({
    example: `${IAM_ENDPOINT} or https://private.iam.cloud.ibm.com`,
    https: "expected an https:// URL (the API key travels in the body)",
  }),
  z.transform((base: string, ctx) => {
    // Whatever this names receives the API key: only IBM's IAM hosts, or a test IAM on loopback.
    const { hostname } = new URL(base);
    if (!isLoopbackHost(hostname) && !/(^|\.)cloud\.ibm\.com$/.test(hostname)) {
      ctx.issues.push({
        code: "custom",
        message: `expected an IAM host under cloud.ibm.com (iam.cloud.ibm.com, private.iam.cloud.ibm.com), got ${hostname}`,
        input: base,
      });
      return z.NEVER;
    }
    return base.endsWith(TOKEN_PATH) ? base.slice(0, -TOKEN_PATH.length) : base;
  }),
);

/**
 * The trusted profile to apply, named in exactly one way (IAM's cr-token grant takes profile_id,
 * profile_name or profile_crn; a name is looked up in the compute resource's own account).
 */
const trustedProfile = z
  .strictObject({
    profileId: z.optional(
      z
        .string()
        .check(z.regex(/^Profile-[0-9a-fA-F-]{36}$/, "expected a trusted profile ID such as Profile-8e2e…")),
    ),
    profileName: z.optional(z.string().check(z.minLength(1, "expected a trusted profile name"))),
    profileCrn: z.optional(
      z
        .string()
        .check(
          z.regex(
            /^crn:v1:[^:]*:[^:]*:iam-identity:/,
            "expected a trusted profile CRN (crn:v1:...:iam-identity:...)",
          ),
        ),
    ),
    /** The compute-resource token: the projected service account token (audience iam). */
    crTokenFile: z._default(z.string().check(z.minLength(1, "expected a file path")), DEFAULT_CR_TOKEN_FILE),
    accountId: z.optional(
      z.undefined({
        error:
          "IAM's cr-token grant takes no account: a profileName is looked up in the cluster's own account; use profileId or profileCrn for another",
      }),
    ),
  })
  .check(
    z.superRefine((p, ctx) => {
      const given = (["profileId", "profileName", "profileCrn"] as const).filter((k) => p[k] !== undefined);
      if (given.length !== 1) {
        ctx.addIssue({
          code: "custom",
          path: ["profileId"],
          message: `expected exactly one of profileId, profileName or profileCrn${given.length > 1 ? `, got ${given.join(" and ")}` : ""}`,
        });
      }
    }),
  );

export const icrSchema = registryEntry("icr", {
  /** Auth keys to write the one IAM access token under, e.g. [us.icr.io, icr.io]. */
  registries: z.array(icrRegistryKey).check(z.minLength(1, "expected at least one registry domain")),
  /** A service ID's API key (or a user's): exchanged for a one-hour access token on every refresh. */
  apiKeyFrom: z.optional(secretRef),
  apiKey: forbiddenInline("apiKeyFrom"),
  /** No key at all: a trusted profile applied with the pod's compute-resource token (IKS, ROKS). */
  trustedProfile: z.optional(trustedProfile),
  /** IAM's base URL; private network: https://private.iam.cloud.ibm.com. */
  iamEndpoint: z._default(iamEndpoint, IAM_ENDPOINT),
}).check(
  z.superRefine((entry, ctx) =>
    exactlyOne(
      entry,
      ctx,
      "apiKeyFrom",
      "trustedProfile",
      "expected exactly one of apiKeyFrom: { file: PATH } or { env: NAME } (an API key), or trustedProfile: { profileId: ... }",
    ),
  ),
);

export type IcrSettings = z.infer<typeof icrSchema>;

/** IAM's token response (IAM Identity Services API, TokenResponse); other fields are ignored. */
export const iamTokenResponse = z.looseObject({
  access_token: z.string().check(z.minLength(1)),
  refresh_token: z.optional(z.string()),
  token_type: z.optional(z.string()),
  /** Seconds the token lives (3600). */
  expires_in: z.optional(z.number().check(z.positive())),
  /** When it expires, in Unix seconds. */
  expiration: z.optional(z.number().check(z.positive())),
});

/** IAM's error body, e.g. {"errorCode":"BXNIM0415E","errorMessage":"Provided API key could not be found.","context":{"requestId":...}}. */
export const iamErrorResponse = z.looseObject({
  errorCode: z.string(),
  errorMessage: z.optional(z.string()),
  errorDetails: z.optional(z.string()),
  context: z.optional(z.looseObject({ requestId: z.optional(z.string()) })),
});
export type IamErrorResponse = z.infer<typeof iamErrorResponse>;
