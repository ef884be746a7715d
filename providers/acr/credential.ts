import type { TokenCredential, TokenCredentialOptions } from "@azure/identity";
import type { ProviderContext } from "../contract.ts";
import type { AcrSettings } from "./schema.ts";
import { entraError } from "./errors.ts";

/** Everything a credential is built from; a change (a rotated secret) builds a new one. */
interface Built {
  key: string;
  credential: TokenCredential;
}

/**
 * The configured @azure/identity credential, rebuilt only when its secret material changes, so
 * MSAL's in-memory token cache and authority metadata survive between refreshes.
 */
export function credentialSource(
  settings: AcrSettings,
  ctx: ProviderContext,
  options: TokenCredentialOptions & { disableInstanceDiscovery?: boolean },
): () => Promise<TokenCredential> {
  let built: Built | null = null;
  return async () => {
    // Secret material is read on every refresh: a rotated file takes effect without a restart.
    const secret = settings.clientSecretFrom ? await ctx.secrets.read(settings.clientSecretFrom) : undefined;
    const certificate = settings.certificateFile
      ? await ctx.secrets.read({ file: settings.certificateFile })
      : undefined;
    const key = JSON.stringify([secret, certificate]);
    if (built?.key !== key) {
      try {
        built = { key, credential: build(await loadIdentity(), settings, options, secret, certificate) };
      } catch (err) {
        // Constructors throw when the environment lacks a setting (AZURE_FEDERATED_TOKEN_FILE...).
        throw entraError(err, `Entra ID (${settings.auth})`);
      }
    }
    return built.credential;
  };
}

// Loaded on first use: the SDK (with MSAL) costs about a second of start-up, which a daemon
// without ACR registries, or `regcred validate`, should not pay.
const loadIdentity = () => import("@azure/identity");
type Identity = Awaited<ReturnType<typeof loadIdentity>>;

function build(
  identity: Identity,
  s: AcrSettings,
  options: TokenCredentialOptions & { disableInstanceDiscovery?: boolean },
  secret: string | undefined,
  certificate: string | undefined,
): TokenCredential {
  switch (s.auth) {
    case "workloadIdentity":
      // Unset fields fall back to the env the AKS webhook injects: AZURE_TENANT_ID,
      // AZURE_CLIENT_ID, AZURE_FEDERATED_TOKEN_FILE.
      return new identity.WorkloadIdentityCredential({
        ...options,
        ...(s.tenantId ? { tenantId: s.tenantId } : {}),
        ...(s.clientId ? { clientId: s.clientId } : {}),
        ...(s.tokenFile ? { tokenFilePath: s.tokenFile } : {}),
      });
    case "managedIdentity":
      if (s.resourceId)
        return new identity.ManagedIdentityCredential({ ...options, resourceId: s.resourceId });
      if (s.clientId) return new identity.ManagedIdentityCredential({ ...options, clientId: s.clientId });
      return new identity.ManagedIdentityCredential(options);
    case "servicePrincipal":
      if (certificate !== undefined) {
        return new identity.ClientCertificateCredential(s.tenantId!, s.clientId!, { certificate }, options);
      }
      return new identity.ClientSecretCredential(s.tenantId!, s.clientId!, secret!, options);
    case "default":
      return new identity.DefaultAzureCredential({
        ...options,
        ...(s.tenantId ? { tenantId: s.tenantId } : {}),
        ...(s.clientId ? { managedIdentityClientId: s.clientId, workloadIdentityClientId: s.clientId } : {}),
      });
  }
}
