import type { TokenCredential } from "@azure/identity";
import type { ContainerRegistryManagementClient, TokenPassword } from "@azure/arm-containerregistry";
import { ProviderError, type Credential } from "../contract.ts";
import { registerSecret } from "../../src/observe/redact.ts";
import { armScope, type AzureCloud } from "./clouds.ts";
import type { AcrSettings } from "./schema.ts";
import { entraError, httpReason, isAbort, transportError } from "./errors.ts";

type ScopedToken = NonNullable<AcrSettings["scopedToken"]>;
type Slot = "password1" | "password2";

/** The two calls this mode makes, as the SDK names them (tests may pass a stand-in). */
export type RegistryManagement = {
  tokens: Pick<ContainerRegistryManagementClient["tokens"], "get">;
  registries: Pick<ContainerRegistryManagementClient["registries"], "beginGenerateCredentialsAndWait">;
};

export async function managementClient(
  credential: TokenCredential,
  subscriptionId: string,
  cloud: AzureCloud,
): Promise<RegistryManagement> {
  // Loaded on first use, like @azure/identity: only the scoped-token mode needs it.
  const { ContainerRegistryManagementClient } = await import("@azure/arm-containerregistry");
  // Endpoint and scope given explicitly: the SDK's own cloudSetting table ends its endpoints in
  // "/", which would make the scope "https://management.chinacloudapi.cn//.default".
  return new ContainerRegistryManagementClient(credential, subscriptionId, {
    endpoint: cloud.armEndpoint,
    credentials: { scopes: [armScope(cloud)] },
  });
}

/**
 * Repository-scoped mode: a new password, with an explicit expiry, for an existing ACR token.
 * By default it regenerates the older of the token's two passwords, so the one already in the
 * Secrets stays valid until its own expiry while the new one rolls out.
 */
export async function generateScopedPassword(input: {
  client: RegistryManagement;
  config: ScopedToken;
  registry: string;
  registryName: string;
  now: number;
  signal: AbortSignal;
  pollIntervalMs?: number;
}): Promise<Credential> {
  const { client, config, registryName, signal } = input;
  const what = `ARM token ${config.tokenName} of registry ${registryName}`;
  const token = await arm(what, signal, () =>
    client.tokens.get(config.resourceGroup, registryName, config.tokenName, { abortSignal: signal }),
  );
  if (!token.id) throw new ProviderError("invalid_response", `${what}: the answer has no resource id`);
  if (token.status === "disabled") throw new ProviderError("access_denied", `${what} is disabled`);
  const slot =
    config.password === "alternate" ? olderSlot(token.credentials?.passwords ?? []) : config.password;
  const expiry = new Date(Math.floor((input.now + config.passwordLifetime) / 1000) * 1000);
  const result = await arm(`${what}: generateCredentials`, signal, () =>
    client.registries.beginGenerateCredentialsAndWait(
      config.resourceGroup,
      registryName,
      { tokenId: token.id, expiry, name: slot },
      {
        abortSignal: signal,
        ...(input.pollIntervalMs !== undefined ? { updateIntervalInMs: input.pollIntervalMs } : {}),
      },
    ),
  );
  const password =
    result.passwords?.find((p) => p.name === slot && p.value) ?? result.passwords?.find((p) => p.value);
  if (!password?.value)
    throw new ProviderError("invalid_response", `${what}: generateCredentials returned no password`);
  registerSecret(password.value);
  return {
    registries: [input.registry],
    username: config.tokenName,
    password: password.value,
    expiresAt: password.expiry ?? expiry,
  };
}

/** An empty slot first, else the one created earlier (the one not in use since the last refresh). */
export function olderSlot(passwords: readonly TokenPassword[]): Slot {
  const created = (name: Slot) => passwords.find((p) => p.name === name)?.creationTime?.getTime();
  const one = created("password1");
  const two = created("password2");
  if (one === undefined) return "password1";
  if (two === undefined) return "password2";
  return two < one ? "password2" : "password1";
}

async function arm<T>(what: string, signal: AbortSignal, call: () => Promise<T>): Promise<T> {
  try {
    return await call();
  } catch (err) {
    if (isAbort(err, signal)) throw err;
    throw armError(err, what);
  }
}

function armError(err: unknown, what: string): ProviderError {
  const e = err as {
    name?: string;
    statusCode?: number;
    code?: string;
    message?: string;
    response?: { headers?: { get(name: string): string | undefined } };
  };
  if (e.name === "RestError" && typeof e.statusCode === "number") {
    const requestId =
      e.response?.headers?.get("x-ms-correlation-request-id") ?? e.response?.headers?.get("x-ms-request-id");
    return new ProviderError(
      httpReason(e.statusCode),
      `${what}: HTTP ${e.statusCode} ${e.code ?? ""}: ${e.message ?? ""}`.trim(),
      {
        cause: err,
        ...(requestId ? { requestId } : {}),
      },
    );
  }
  if (e.name === "RestError") return transportError(err, what);
  // The pipeline's bearer policy surfaces the credential's own error.
  return entraError(err, `Entra ID token for ARM (${what})`);
}
