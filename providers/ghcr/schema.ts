import * as z from "zod/mini";
import { baseUrl, exactlyOne, registryEntry, registryKey, secretRef, forbiddenInline } from "../kit.ts";

export const GITHUB_API = "https://api.github.com";

/**
 * The REST API base: https://api.github.com, or https://HOST/api/v3 for GitHub Enterprise Server.
 * Plain http only to loopback (local fakes, a port-forward): a PAT or App JWT must not cross a
 * network in clear text.
 */
const apiUrl = baseUrl({
  example: `${GITHUB_API} or https://github.example.com/api/v3`,
  https: "expected an https:// URL (http:// only to localhost)",
  httpLoopback: true,
});

// GitHub repository names: letters, digits, '-', '_', '.'. The token request takes bare names
// (the installation's owner is implied), so "owner/repo" is a mistake worth naming.
const repositoryName = z
  .string()
  .check(
    z.regex(
      /^[A-Za-z0-9._-]{1,100}$/,
      'expected a repository name without its owner, e.g. "api" not "acme/api"',
    ),
  );

const app = z
  .strictObject({
    /** The App's numeric ID, or its client ID (Iv1.… / Iv23…): either is accepted as the JWT `iss`. */
    appId: z.optional(
      z.union([
        z.number().check(z.int(), z.positive()),
        z.string().check(z.regex(/^\d+$/, "expected a numeric App ID")),
      ]),
    ),
    clientId: z.optional(
      z
        .string()
        .check(z.regex(/^Iv[A-Za-z0-9.]+$/, 'expected a GitHub App client ID such as "Iv23liAbCdEf..."')),
    ),
    installationId: z.union([
      z.number().check(z.int(), z.positive()),
      z.string().check(z.regex(/^\d+$/, "expected a numeric installation ID")),
    ]),
    privateKeyFrom: secretRef,
    privateKey: forbiddenInline("privateKeyFrom"),
    /** Narrow the token to these repositories of the installation (at most 500). */
    repositories: z.optional(z.array(repositoryName).check(z.minLength(1), z.maxLength(500))),
  })
  .check(z.superRefine((a, ctx) => exactlyOne(a, ctx, "appId", "clientId")));

export const ghcrSchema = registryEntry("ghcr", {
  /** REST API base; GitHub Enterprise Server: https://HOST/api/v3. */
  apiUrl: z._default(apiUrl, GITHUB_API),
  /** Auth keys to write; default ghcr.io (github.com) or containers.HOST (GitHub Enterprise Server). */
  registries: z.optional(z.array(registryKey).check(z.minLength(1, "expected at least one registry host"))),
  // PAT mode (the default).
  username: z.optional(z.string().check(z.minLength(1))),
  usernameFrom: z.optional(secretRef),
  tokenFrom: z.optional(secretRef),
  token: forbiddenInline("tokenFrom"),
  password: forbiddenInline("tokenFrom"),
  /**
   * Ask the GitHub API about the PAT on each refresh (expiry, scopes, revocation). Turn off only
   * where the cluster reaches the registry but not the API: the PAT is then used unchecked.
   */
  verify: z._default(z.boolean(), true),
  // App mode (opt-in).
  app: z.optional(app),
}).check(
  z.superRefine((entry, ctx) => {
    if (entry.app) {
      for (const key of ["tokenFrom", "username", "usernameFrom"] as const) {
        if (entry[key] !== undefined) {
          ctx.addIssue({
            code: "custom",
            path: [key],
            message: `not used in App mode (the username is x-access-token): remove ${key} or app`,
          });
        }
      }
    } else {
      if (entry.tokenFrom === undefined) {
        ctx.addIssue({
          code: "custom",
          path: ["tokenFrom"],
          message:
            "expected tokenFrom: { file: PATH } or { env: NAME } (a classic PAT), or an app: block for App mode",
        });
      }
      exactlyOne(entry, ctx, "username", "usernameFrom");
    }
    if (entry.registries === undefined && defaultRegistries(entry.apiUrl) === null) {
      ctx.addIssue({
        code: "custom",
        path: ["registries"],
        message: `cannot derive the registry host from apiUrl ${entry.apiUrl}: list it under registries`,
      });
    }
  }),
);

export type GhcrSettings = z.infer<typeof ghcrSchema>;

/**
 * The registry that goes with an API base: ghcr.io for github.com; containers.HOST for GitHub
 * Enterprise Server (its container registry needs subdomain isolation). null when the URL is
 * neither shape (e.g. GHE.com data residency): the config must then say.
 */
export function defaultRegistries(api: string): string[] | null {
  const url = new URL(api);
  if (url.hostname === "api.github.com" && url.pathname === "/") return ["ghcr.io"];
  if (url.pathname === "/api/v3") return [`containers.${url.hostname}`];
  return null;
}

// GitHub's answers, parsed rather than cast: a shape that is not these fails as invalid_response.

/** POST /app/installations/{id}/access_tokens, 201. */
export const installationTokenResponse = z.object({
  token: z.string().check(z.minLength(1)),
  expires_at: z.iso.datetime({ offset: true }),
  permissions: z.catch(z.optional(z.record(z.string(), z.string())), undefined),
});

/** A GitHub error body: {"message": "...", "documentation_url": "..."}. */
export const githubErrorBody = z.object({ message: z.string() });
