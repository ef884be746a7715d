import {
  Compute,
  ExternalAccountClient,
  GoogleAuth,
  Impersonated,
  JWT,
  type AuthClient,
  type ExternalAccountClientOptions,
} from "google-auth-library";
import {
  ProviderError,
  type Credential,
  type Provider,
  type ProviderContext,
  type ProviderDefinition,
} from "../contract.ts";
import { classifyGoogleError } from "./errors.ts";
import { CLOUD_PLATFORM_SCOPE, gcrSchema, type GcrSettings } from "./schema.ts";
import { abortable, registerSecret } from "../kit.ts";

/** What docker and kubelet send as the username with a Google OAuth2 access token. */
export const GCR_USERNAME = "oauth2accesstoken";

type ClientOptions = { transporterOptions: { signal: AbortSignal } };

interface Source {
  /** For messages: where the identity comes from. */
  describe: string;
  client(scopes: string[], options: ClientOptions): Promise<AuthClient>;
}

/** Only the two key types an operator mounts for this; anything else is refused, not guessed at. */
function fromKeyFile(
  json: Record<string, unknown>,
  file: string,
  scopes: string[],
  options: ClientOptions,
): AuthClient {
  if (json.type === "service_account") {
    if (typeof json.private_key === "string") registerSecret(json.private_key);
    const client = new JWT({ ...options, scopes });
    client.fromJSON(json);
    return client;
  }
  if (json.type === "external_account") {
    const client = ExternalAccountClient.fromJSON({
      ...json,
      ...options,
    } as unknown as ExternalAccountClientOptions);
    if (!client)
      throw new ProviderError("bad_credentials", `${file}: not a usable external_account configuration`);
    client.scopes = scopes;
    return client;
  }
  throw new ProviderError(
    "bad_credentials",
    `${file} holds a credential of type ${JSON.stringify(json.type ?? null)}; expected service_account or external_account`,
  );
}

function source(settings: GcrSettings, ctx: ProviderContext): Source {
  const file = settings.credentialsFile;
  if (file !== undefined) {
    return {
      describe: `credentials file ${file}`,
      async client(scopes, options) {
        const text = await ctx.secrets.read({ file });
        let json: unknown;
        try {
          json = JSON.parse(text);
        } catch {
          // JSON.parse's message quotes the text: a private key must not reach a log.
          throw new ProviderError("bad_credentials", `${file} is not valid JSON`);
        }
        if (!json || typeof json !== "object")
          throw new ProviderError("bad_credentials", `${file} is not a JSON object`);
        return fromKeyFile(json as Record<string, unknown>, file, scopes, options);
      },
    };
  }
  if (settings.metadataServer) {
    return {
      describe: "metadata server",
      client: async (scopes, options) => new Compute({ ...options, scopes }),
    };
  }
  return {
    describe: "Application Default Credentials",
    client: (scopes, options) => new GoogleAuth({ scopes, clientOptions: options }).getClient(),
  };
}

/** The token and its expiry as the library holds them after a fresh fetch. */
async function fetchToken(client: AuthClient): Promise<{ token: string; expiry: number }> {
  const { token } = await client.getAccessToken();
  if (token) registerSecret(token);
  const expiry = client.credentials.expiry_date;
  if (!token) throw new ProviderError("invalid_response", "no access token in the response");
  if (typeof expiry !== "number" || !Number.isFinite(expiry)) {
    throw new ProviderError(
      "invalid_response",
      "the token response gave no expiry (expires_in / expireTime missing)",
    );
  }
  if (expiry <= Date.now()) {
    throw new ProviderError(
      "invalid_response",
      `the token arrived already expired (${new Date(expiry).toISOString()}): expires_in missing or zero, or clock skew`,
    );
  }
  return { token, expiry };
}

/**
 * Google Container Registry and Artifact Registry: one OAuth2 access token per refresh, written
 * under every configured host. Clients are built anew on each mint, so every refresh is one real
 * round trip (the library's own cache would hand back the previous token) and a rotated key file
 * is read afresh.
 */
export function createGcrProvider(settings: GcrSettings, ctx: ProviderContext): Provider {
  const from = source(settings, ctx);
  const target = settings.impersonate;
  const file = settings.credentialsFile;
  async function mint(signal: AbortSignal): Promise<Credential[]> {
    const options: ClientOptions = { transporterOptions: { signal } };
    let client: AuthClient;
    let result: { token: string; expiry: number };
    try {
      // IAM Credentials needs cloud-platform on the source token; the configured scopes go to the target.
      client = await from.client(target ? [CLOUD_PLATFORM_SCOPE] : settings.scopes, options);
      result = await fetchToken(client);
    } catch (err) {
      throw classifyGoogleError(err, `token from ${from.describe}`);
    }
    if (target) {
      const impersonated = new Impersonated({
        ...options,
        sourceClient: client,
        targetPrincipal: target.serviceAccount,
        targetScopes: settings.scopes,
        delegates: target.delegates ?? [],
        ...(target.lifetime !== undefined ? { lifetime: target.lifetime / 1_000 } : {}),
      });
      try {
        result = await fetchToken(impersonated);
      } catch (err) {
        throw classifyGoogleError(err, `impersonating ${target.serviceAccount} (generateAccessToken)`);
      }
    }
    return [
      {
        registries: settings.registries,
        username: GCR_USERNAME,
        password: result.token,
        expiresAt: new Date(result.expiry),
      },
    ];
  }

  return {
    // The metadata server path of google-auth-library takes no signal: the race makes an abort
    // end the mint, as the contract asks, whatever the library does.
    mint: (signal) => abortable(mint(signal), signal),
    watch: file === undefined ? undefined : (onChange) => ctx.secrets.watch({ file }, onChange),
  };
}

export const gcrProvider: ProviderDefinition<GcrSettings> = {
  kind: "gcr",
  schema: gcrSchema,
  create: createGcrProvider,
};
