import { CLOUD_NAMES, CLOUDS, cloudOfRegistry } from "./clouds.ts";
import * as z from "zod/mini";
import { exactlyOne, registryEntry, registryKey, secretRef, forbiddenInline, duration } from "../kit.ts";

/** How regcred gets its Entra ID token. */
export const AUTH_MODES = ["default", "workloadIdentity", "managedIdentity", "servicePrincipal"] as const;
export type AuthMode = (typeof AUTH_MODES)[number];

const loginServer = registryKey.check(
  z.refine((host: string) => cloudOfRegistry(host) !== undefined, {
    message:
      "expected an ACR login server such as myregistry.azurecr.io (or .azurecr.cn, .azurecr.us), without port or path",
  }),
);

const guidOrDomain = z
  .string()
  .check(
    z.regex(
      /^[A-Za-z0-9][A-Za-z0-9.-]*$/,
      "expected a tenant ID (a GUID) or a tenant domain such as contoso.onmicrosoft.com",
    ),
  );

const httpsUrl = z.pipe(
  z.url({ protocol: /^https$/, error: "expected an https:// URL such as https://login.microsoftonline.com" }),
  z.transform((u: string) => u.replace(/\/+$/, "")),
);

const armName = (what: string) => z.string().check(z.regex(/^[-\w._()]+$/, `expected ${what}`));

const scopedToken = z.strictObject({
  subscriptionId: z.string().check(z.regex(/^[0-9a-fA-F-]{36}$/, "expected a subscription ID (a GUID)")),
  resourceGroup: armName("a resource group name"),
  /** The registry's ARM name; defaults to the first label of the login server. */
  registryName: z.optional(
    z.string().check(z.regex(/^[a-zA-Z0-9]{5,50}$/, "expected a registry name (5-50 letters and digits)")),
  ),
  /** An existing ACR token (bound to a scope map). Its name is the docker username. */
  tokenName: z
    .string()
    .check(z.regex(/^[a-zA-Z0-9-]{5,50}$/, "expected an ACR token name (5-50 letters, digits, dashes)")),
  /** How long each generated password lives. */
  passwordLifetime: z._default(duration, 24 * 3_600_000),
  /**
   * Which password slot to regenerate: only "alternate" (the default), the slot the Secrets do
   * not hold, so their password keeps working while the new one rolls out. A fixed slot would
   * revoke the password in use on every refresh; the key stays so that a config naming one gets
   * that reason, not "unknown key".
   */
  password: z._default(
    z.literal("alternate", {
      error: (issue) =>
        issue.input === undefined
          ? undefined
          : `expected "alternate": a fixed slot (${JSON.stringify(issue.input)}) regenerates the password the Secrets hold on every refresh, and every pull fails until the new one is everywhere; give regcred a token of its own`,
    }),
    "alternate",
  ),
});

/** Which settings each auth mode reads; any other is a mistake worth an error. */
const MODE_FIELDS: Record<AuthMode, ReadonlySet<string>> = {
  default: new Set(["tenantId", "clientId"]),
  workloadIdentity: new Set(["tenantId", "clientId", "tokenFile"]),
  managedIdentity: new Set(["clientId", "resourceId"]),
  servicePrincipal: new Set(["tenantId", "clientId", "clientSecretFrom", "certificateFile"]),
};
const AUTH_FIELDS = [
  "tenantId",
  "clientId",
  "tokenFile",
  "resourceId",
  "clientSecretFrom",
  "certificateFile",
] as const;

export const acrSchema = registryEntry("acr", {
  /** Login servers to write credentials for, all in one cloud, e.g. [myreg.azurecr.io]. */
  registries: z.array(loginServer).check(z.minLength(1, "expected at least one registry host")),
  /** public (azurecr.io), china (azurecr.cn) or usgov (azurecr.us); inferred from the registries. */
  cloud: z.optional(z.enum(CLOUD_NAMES)),
  /** Overrides the cloud's Entra authority host. */
  authorityHost: z.optional(httpsUrl),
  /** For an authority Microsoft's instance discovery does not know (Azure Stack Hub, a private authority). */
  disableInstanceDiscovery: z._default(z.boolean(), false),
  /** acr: the ACR audience (default); arm: Azure Resource Manager's, for registries that still accept it. */
  audience: z._default(z.enum(["acr", "arm"]), "acr"),
  auth: z._default(z.enum(AUTH_MODES), "default"),
  /** The Entra tenant; also sent to the exchange. */
  tenantId: z.optional(guidOrDomain),
  /** The application (client) ID: a service principal, a user-assigned identity, a workload identity. */
  clientId: z.optional(z.string().check(z.minLength(1))),
  /** workloadIdentity: the projected service account token; default $AZURE_FEDERATED_TOKEN_FILE. */
  tokenFile: z.optional(z.string().check(z.minLength(1))),
  /** managedIdentity: a user-assigned identity's resource ID (instead of clientId). */
  resourceId: z.optional(
    z.string().check(z.regex(/^\/subscriptions\//i, "expected an ARM resource ID (/subscriptions/...)")),
  ),
  /** servicePrincipal: where the client secret is. */
  clientSecretFrom: z.optional(secretRef),
  clientSecret: forbiddenInline("clientSecretFrom"),
  /** servicePrincipal: a PEM file holding the certificate and its private key. */
  certificateFile: z.optional(z.string().check(z.minLength(1))),
  /** Generate passwords for a repository-scoped ACR token through ARM instead of Entra login. */
  scopedToken: z.optional(scopedToken),
}).check(
  z.superRefine((entry, ctx) => {
    // Hosts that are not login servers are reported by their own check; skip them here.
    const clouds = new Set(entry.registries.flatMap((r) => cloudOfRegistry(r)?.name ?? []));
    if (clouds.size > 1) {
      ctx.addIssue({
        code: "custom",
        path: ["registries"],
        message: `expected registries of one cloud, got ${[...clouds].join(" and ")}: use one entry per cloud`,
      });
    }
    const inferred = [...clouds][0];
    if (entry.cloud && inferred && clouds.size === 1 && entry.cloud !== inferred) {
      ctx.addIssue({
        code: "custom",
        path: ["cloud"],
        message: `cloud ${entry.cloud} serves *.${CLOUDS[entry.cloud].registrySuffix}, but the registries are *.${CLOUDS[inferred].registrySuffix}`,
      });
    }
    const allowed = MODE_FIELDS[entry.auth];
    for (const field of AUTH_FIELDS) {
      if (entry[field] !== undefined && !allowed.has(field)) {
        ctx.addIssue({ code: "custom", path: [field], message: `not used by auth: ${entry.auth}` });
      }
    }
    if (entry.auth === "managedIdentity" && entry.clientId && entry.resourceId) {
      ctx.addIssue({
        code: "custom",
        path: ["resourceId"],
        message: "expected at most one of clientId or resourceId",
      });
    }
    if (entry.auth === "servicePrincipal") {
      for (const field of ["tenantId", "clientId"] as const) {
        if (!entry[field])
          ctx.addIssue({ code: "custom", path: [field], message: "required by auth: servicePrincipal" });
      }
      exactlyOne(entry, ctx, "clientSecretFrom", "certificateFile");
    }
    if (entry.scopedToken) {
      if (entry.registries.length !== 1) {
        ctx.addIssue({
          code: "custom",
          path: ["registries"],
          message: "a scoped token belongs to one registry: expected exactly one registry with scopedToken",
        });
      }
      if (entry.audience !== "acr") {
        ctx.addIssue({
          code: "custom",
          path: ["audience"],
          message: "not used with scopedToken (the ARM call always uses the ARM audience)",
        });
      }
    }
  }),
);

export type AcrSettings = z.infer<typeof acrSchema>;

// The registry's answers, parsed rather than cast.

/** POST /oauth2/exchange, 200: the ACR refresh token. */
export const exchangeResponse = z.object({ refresh_token: z.string().check(z.minLength(1)) });

/** The distribution error format ACR answers failures in: {"errors":[{"code","message"}]}. */
export const registryErrorBody = z.object({
  errors: z
    .array(z.object({ code: z.optional(z.string()), message: z.optional(z.string()) }))
    .check(z.minLength(1)),
});

/** The claims regcred reads from a token it holds (never verified: only the issuer's audience can). */
export const jwtClaims = z.looseObject({
  exp: z.catch(z.optional(z.number().check(z.positive())), undefined),
  tid: z.catch(z.optional(z.string().check(z.minLength(1))), undefined),
});
export type JwtClaims = z.infer<typeof jwtClaims>;
