import type { TokenCredential, TokenCredentialOptions } from "@azure/identity";
import type { Credential, MintHint, Provider, ProviderContext, ProviderDefinition } from "../contract.ts";
import { acrSchema, type AcrSettings } from "./schema.ts";
import { ACR_SCOPE, CLOUDS, armScope, cloudOfRegistry, registryNameOf, type AzureCloud } from "./clouds.ts";
import { credentialSource } from "./credential.ts";
import { ACR_REFRESH_USERNAME, exchangeToken, jwtPayload } from "./exchange.ts";
import { entraError } from "./errors.ts";
import {
  generateScopedPassword,
  managementClient,
  type IssuedPassword,
  type RegistryManagement,
} from "./scoped-token.ts";
import { registerSecret, isAbort, watchRefs } from "../kit.ts";

/** What talks to Azure, injectable so tests can point it at local servers. */
export interface AcrClients {
  /** Passed to every @azure/identity credential (e.g. an https `agent` trusting a private CA). */
  identityOptions: TokenCredentialOptions;
  /** Replaces the credential built from the settings. */
  credential?: TokenCredential;
  /** Where the Entra token is exchanged for a refresh token. */
  exchangeUrl(registry: string): string;
  /** The ARM client of the scoped-token mode. */
  management(
    credential: TokenCredential,
    subscriptionId: string,
    cloud: AzureCloud,
  ): Promise<RegistryManagement>;
  /** LRO polling interval of generateCredentials; default: the SDK's (it honours Retry-After). */
  pollIntervalMs?: number;
  now(): number;
}

export const defaultAcrClients: AcrClients = {
  identityOptions: {},
  exchangeUrl: (registry) => `https://${registry}/oauth2/exchange`,
  management: managementClient,
  now: Date.now,
};

export function cloudOf(settings: AcrSettings): AzureCloud {
  return settings.cloud ? CLOUDS[settings.cloud] : cloudOfRegistry(settings.registries[0]!)!;
}

/**
 * Azure Container Registry. Default mode: one Entra ID token per refresh, exchanged at each
 * registry for an ACR refresh token (user 00000000-..., expiry from the token's exp claim).
 * Scoped-token mode: a fresh password for an ACR token through ARM.
 */
export function createAcrProvider(
  settings: AcrSettings,
  ctx: ProviderContext,
  clients: Partial<AcrClients> = {},
): Provider {
  const c: AcrClients = { ...defaultAcrClients, ...clients };
  const cloud = cloudOf(settings);
  const entraOptions = {
    ...c.identityOptions,
    authorityHost: settings.authorityHost ?? cloud.authorityHost,
    ...(settings.disableInstanceDiscovery ? { disableInstanceDiscovery: true } : {}),
  };
  const configured = credentialSource(settings, ctx, entraOptions);
  const credential = async () => c.credential ?? configured();
  const scope = settings.audience === "arm" ? armScope(cloud) : ACR_SCOPE;

  async function mintExchanged(signal: AbortSignal): Promise<Credential[]> {
    const cred = await credential();
    let accessToken: string;
    try {
      const token = await cred.getToken(scope, { abortSignal: signal });
      if (!token?.token) throw new Error("the credential returned no token");
      accessToken = token.token;
    } catch (err) {
      if (isAbort(err, signal)) throw err;
      throw entraError(err, `Entra ID (${settings.auth})`);
    }
    registerSecret(accessToken);
    // The token's own tenant (a GUID, even when tenantId is configured as a domain name).
    const tenant = jwtPayload(accessToken)?.tid ?? settings.tenantId;
    // One Entra token, one exchange per registry, in parallel; any failure fails the refresh
    // (the refresher keeps the last good set), so the Secrets never mix old and new halves.
    return Promise.all(
      settings.registries.map(async (registry) => {
        const refresh = await exchangeToken({
          url: c.exchangeUrl(registry),
          registry,
          accessToken,
          tenant,
          signal,
        });
        // "registry" is the config entry in every log line; the login server goes under "host".
        ctx.log.debug(
          { host: registry, expiresAt: refresh.expiresAt.toISOString() },
          "ACR refresh token minted",
        );
        return {
          registries: [registry],
          username: ACR_REFRESH_USERNAME,
          password: refresh.token,
          expiresAt: refresh.expiresAt,
        };
      }),
    );
  }

  // What this provider handed out last: the slot it must not regenerate next.
  let issued: IssuedPassword | undefined;
  // One scoped mint at a time: two overlapping ones (a retry after a timed-out attempt that is
  // still running) would pick the same slot, and the later would revoke the earlier's password.
  let queue: Promise<unknown> = Promise.resolve();

  function mintScoped(signal: AbortSignal, hint?: MintHint): Promise<Credential[]> {
    const run = queue.then(() => mintScopedNow(signal, hint));
    queue = run.catch(() => undefined);
    return run;
  }

  async function mintScopedNow(signal: AbortSignal, hint?: MintHint): Promise<Credential[]> {
    signal.throwIfAborted();
    const config = settings.scopedToken!;
    const registry = settings.registries[0]!;
    const client = await c.management(await credential(), config.subscriptionId, cloud);
    const minted = await generateScopedPassword({
      client,
      config,
      registry,
      registryName: config.registryName ?? registryNameOf(registry),
      now: c.now(),
      signal,
      current: hint?.current ?? null,
      issued,
      log: ctx.log,
      ...(c.pollIntervalMs !== undefined ? { pollIntervalMs: c.pollIntervalMs } : {}),
    });
    // Given up on (timeout, shutdown): the password reaches no Secret, so the one handed out
    // before stays live, and the next mint may reuse this slot.
    signal.throwIfAborted();
    issued = minted.issued;
    return [minted.credential];
  }

  return {
    mint: settings.scopedToken ? mintScoped : mintExchanged,
    watch(onChange) {
      const refs = [
        settings.clientSecretFrom,
        settings.certificateFile ? { file: settings.certificateFile } : undefined,
      ];
      return watchRefs(ctx.secrets, refs, onChange);
    },
  };
}

export const acrProvider: ProviderDefinition<AcrSettings> = {
  kind: "acr",
  schema: acrSchema,
  create: (settings, ctx) => createAcrProvider(settings, ctx),
  knownLifetimes: (settings) =>
    settings.scopedToken
      ? [{ path: ["scopedToken", "passwordLifetime"], ms: settings.scopedToken.passwordLifetime }]
      : [],
};
