import type { Credential, Provider, ProviderContext, ProviderDefinition } from "../contract.ts";
import { ghcrSchema, defaultRegistries, type GhcrSettings } from "./schema.ts";
import { checkPat, warnAboutPat } from "./pat.ts";
import { loadPrivateKey, mintInstallationToken } from "./app.ts";
import type { Fetch } from "./github.ts";
import { watchRefs } from "../kit.ts";

/** Username ghcr.io expects with a GitHub App installation token. */
export const APP_USERNAME = "x-access-token";

/** The GitHub client, injected so tests point it at a local fake. */
export interface GhcrClients {
  fetch?: Fetch;
  now?: () => number;
}

/**
 * GitHub Container Registry (and GitHub Enterprise Server's containers.HOST).
 * PAT mode (default): the classic PAT is re-read on every refresh and whenever its file changes,
 * and checked with one API call whose headers give its expiry and scopes. App mode (opt-in):
 * a 1-hour installation token minted from the App's private key. See README.md for which of the
 * two ghcr.io accepts for pulls.
 */
export function createGhcrProvider(
  settings: GhcrSettings,
  ctx: ProviderContext,
  clients: GhcrClients = {},
): Provider {
  const fetch = clients.fetch ?? globalThis.fetch;
  const now = clients.now ?? Date.now;
  const registries = settings.registries ?? defaultRegistries(settings.apiUrl)!;
  const refs = settings.app ? [settings.app.privateKeyFrom] : [settings.tokenFrom, settings.usernameFrom];
  const skew = { seconds: 0 };
  let warnedAboutApp = false;

  async function mintWithPat(signal: AbortSignal): Promise<Credential[]> {
    const username = settings.usernameFrom
      ? await ctx.secrets.read(settings.usernameFrom)
      : settings.username!;
    const token = await ctx.secrets.read(settings.tokenFrom!);
    const check = settings.verify ? await checkPat(settings.apiUrl, token, signal, fetch) : null;
    warnAboutPat(ctx.log, settings.name, token, check);
    if (check && check.expiresAt === undefined) {
      ctx.log.warn(
        `${settings.name}: unreadable GitHub-Authentication-Token-Expiration header; expiry unknown`,
      );
    }
    return [{ registries, username, password: token, expiresAt: check?.expiresAt ?? null }];
  }

  async function mintWithApp(signal: AbortSignal): Promise<Credential[]> {
    const app = settings.app!;
    const key = loadPrivateKey(await ctx.secrets.read(app.privateKeyFrom), app.privateKeyFrom);
    const minted = await mintInstallationToken({
      apiUrl: settings.apiUrl,
      app,
      key,
      signal,
      fetch,
      now,
      log: ctx.log,
      skew,
    });
    if (minted.permissions.packages === undefined) {
      ctx.log.warn(
        { permissions: minted.permissions },
        `${settings.name}: the installation token carries no packages permission; grant the App "Packages: read"`,
      );
    }
    if (!warnedAboutApp) {
      warnedAboutApp = true;
      ctx.log.warn(
        `${settings.name}: App installation tokens log in to ghcr.io but are reported denied on pull; GitHub documents classic PATs only (see providers/ghcr/README.md)`,
      );
    }
    return [{ registries, username: APP_USERNAME, password: minted.token, expiresAt: minted.expiresAt }];
  }

  return {
    mint: settings.app ? mintWithApp : mintWithPat,
    watch: (onChange) => watchRefs(ctx.secrets, refs, onChange),
  };
}

export const ghcrProvider: ProviderDefinition<GhcrSettings> = {
  kind: "ghcr",
  schema: ghcrSchema,
  create: (settings, ctx) => createGhcrProvider(settings, ctx),
};
