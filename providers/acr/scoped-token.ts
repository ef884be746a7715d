import type { TokenCredential } from "@azure/identity";
import type { Logger } from "pino";
import type { ContainerRegistryManagementClient, TokenPassword } from "@azure/arm-containerregistry";
import { ProviderError, type Credential } from "../contract.ts";
import { armScope, type AzureCloud } from "./clouds.ts";
import type { AcrSettings } from "./schema.ts";
import { entraError, transportError } from "./errors.ts";
import { registerSecret, isAbort, statusReason } from "../kit.ts";

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

/** A password this provider handed out, and the slot that holds it. */
export interface IssuedPassword {
  slot: Slot;
  password: string;
  expiresAt: Date | null;
}

/**
 * Repository-scoped mode: a new password, with an explicit expiry, for an existing ACR token.
 * ARM replaces a slot's value at once, so the slot regenerated is never the one whose password
 * the Secrets hold (see chooseSlot): that one keeps working until its own expiry while the new
 * one rolls out.
 */
export async function generateScopedPassword(input: {
  client: RegistryManagement;
  config: ScopedToken;
  registry: string;
  registryName: string;
  now: number;
  signal: AbortSignal;
  /** The credential in use now (the refresher's last good), if the caller knows it. */
  current: readonly Credential[] | null;
  /** The password this provider handed out last, if any since it started. */
  issued: IssuedPassword | undefined;
  log: Logger;
  pollIntervalMs?: number;
}): Promise<{ credential: Credential; issued: IssuedPassword }> {
  const { client, config, registryName, signal } = input;
  const what = `ARM token ${config.tokenName} of registry ${registryName}`;
  const token = await arm(what, signal, () =>
    client.tokens.get(config.resourceGroup, registryName, config.tokenName, { abortSignal: signal }),
  );
  if (!token.id) throw new ProviderError("invalid_response", `${what}: the answer has no resource id`);
  if (token.status === "disabled") throw new ProviderError("access_denied", `${what} is disabled`);
  const passwords = token.credentials?.passwords ?? [];
  const current = input.current?.find(
    (c) => c.username === config.tokenName && c.registries.includes(input.registry),
  );
  const live = liveSlot(passwords, current, input.issued);
  const slot = chooseSlot(passwords, live, input.now);
  if (live === undefined && bothValid(passwords, input.now)) {
    input.log.warn(
      { registry: registryName, token: config.tokenName, slot },
      `cannot tell which password of ${what} the Secrets hold (first refresh since start-up): regenerating ${slot}, the one that expires first`,
    );
  } else {
    input.log.debug(
      { registry: registryName, token: config.tokenName, slot, live },
      "regenerating ACR token password",
    );
  }
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
  const expiresAt = password.expiry ?? expiry;
  return {
    credential: {
      registries: [input.registry],
      username: config.tokenName,
      password: password.value,
      expiresAt,
    },
    issued: { slot, password: password.value, expiresAt },
  };
}

/**
 * The slot whose password is in use: the one this process handed out when that is what the
 * caller holds; else the slot whose expiry is the held credential's (ARM lists each slot's
 * expiry, and regcred sets it to the second), which also holds after a restart; else the slot
 * handed out last. undefined: nothing says.
 */
export function liveSlot(
  passwords: readonly TokenPassword[],
  current: Credential | undefined,
  issued: IssuedPassword | undefined,
): Slot | undefined {
  if (current && issued && current.password === issued.password) return issued.slot;
  const held = current?.expiresAt?.getTime();
  if (held !== undefined) {
    const matches = passwords.filter(
      (p) => isSlot(p.name) && p.expiry && Math.abs(p.expiry.getTime() - held) < 1_000,
    );
    if (matches.length === 1) return matches[0]!.name as Slot;
  }
  return issued?.slot;
}

/**
 * The slot to regenerate: the one that is not live. Not knowing which is live (the first
 * refresh after a start without a held credential), a slot that cannot be in use: an empty one,
 * else one whose password has expired, else the one that expires first (the older: regcred gives
 * every password the same lifetime, so the newer is the one the last refresh rolled out).
 */
export function chooseSlot(passwords: readonly TokenPassword[], live: Slot | undefined, now: number): Slot {
  if (live) return live === "password1" ? "password2" : "password1";
  const rank = (slot: Slot): [number, number, number] => {
    const p = passwords.find((x) => x.name === slot);
    if (!p) return [0, 0, 0];
    const expiry = p.expiry?.getTime() ?? Infinity;
    return [expiry <= now ? 1 : 2, expiry, p.creationTime?.getTime() ?? 0];
  };
  const [one, two] = [rank("password1"), rank("password2")];
  for (let i = 0; i < one.length; i++)
    if (one[i] !== two[i]) return one[i]! < two[i]! ? "password1" : "password2";
  return "password1";
}

function bothValid(passwords: readonly TokenPassword[], now: number): boolean {
  return (["password1", "password2"] as const).every((slot) => {
    const p = passwords.find((x) => x.name === slot);
    return p !== undefined && (p.expiry === undefined || p.expiry.getTime() > now);
  });
}

function isSlot(name: string | undefined): name is Slot {
  return name === "password1" || name === "password2";
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
      statusReason(e.statusCode),
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
