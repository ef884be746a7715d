import { fromNodeProviderChain, fromTemporaryCredentials } from "@aws-sdk/credential-providers";
import type { ProviderContext } from "../contract.ts";
import type { EcrSettings } from "./schema.ts";
import { registerSecret } from "../kit.ts";

export type AwsCredentialProvider = ReturnType<typeof fromNodeProviderChain>;
export type AwsIdentity = Awaited<ReturnType<AwsCredentialProvider>>;
export type DefaultChainInit = NonNullable<Parameters<typeof fromNodeProviderChain>[0]>;
export type AssumeRoleOptions = Parameters<typeof fromTemporaryCredentials>[0];

/** The credential sources, injectable for tests. */
export interface CredentialFactories {
  /** The SDK's Node chain: env keys, IRSA web identity, EKS Pod Identity / ECS, profile, IMDS. */
  defaultChain(init: DefaultChainInit): AwsCredentialProvider;
  /** STS AssumeRole on top of a source identity. */
  assumeRole(options: AssumeRoleOptions): AwsCredentialProvider;
  /** Extra STS client config for assumeRole and web identity (tests: an endpoint). */
  stsConfig?: { endpoint?: string };
}

export const defaultCredentialFactories: CredentialFactories = {
  defaultChain: (init) => fromNodeProviderChain(init),
  assumeRole: (options) => fromTemporaryCredentials(options) as AwsCredentialProvider,
};

/** How the identity was obtained, for log lines and error messages (no secret in it). */
export function describeAuth(settings: EcrSettings): string {
  const source = settings.auth ? "static keys" : "default credential chain";
  return settings.assumeRole ? `${source}, then assume role ${settings.assumeRole.roleArn}` : source;
}

/**
 * Resolves the AWS identity once per refresh; every regional client then signs with it, so an
 * entry with N regions costs one STS call, not N. Built afresh each time: rotated key files,
 * projected web identity tokens and role sessions are always current.
 */
export async function resolveIdentity(
  settings: EcrSettings,
  ctx: ProviderContext,
  stsRegion: string,
  factories: CredentialFactories,
): Promise<AwsIdentity> {
  const stsConfig = { region: stsRegion, ...factories.stsConfig };
  let source: AwsIdentity | AwsCredentialProvider;
  if (settings.auth) {
    const { accessKeyIdFrom, secretAccessKeyFrom, sessionTokenFrom } = settings.auth;
    const [accessKeyId, secretAccessKey, sessionToken] = await Promise.all([
      ctx.secrets.read(accessKeyIdFrom),
      ctx.secrets.read(secretAccessKeyFrom),
      sessionTokenFrom ? ctx.secrets.read(sessionTokenFrom) : Promise.resolve(undefined),
    ]);
    source = { accessKeyId, secretAccessKey, ...(sessionToken ? { sessionToken } : {}) };
  } else {
    // clientConfig reaches the web identity provider's STS client (IRSA): without it STS would
    // be called in AWS_REGION or us-east-1 rather than the entry's partition.
    source = factories.defaultChain({ clientConfig: stsConfig });
  }
  let identity: AwsIdentity;
  if (settings.assumeRole) {
    const role = settings.assumeRole;
    const provider = factories.assumeRole({
      masterCredentials: source,
      params: {
        RoleArn: role.roleArn,
        RoleSessionName: role.sessionName,
        ...(role.externalId ? { ExternalId: role.externalId } : {}),
        ...(role.duration ? { DurationSeconds: Math.floor(role.duration / 1000) } : {}),
      },
      // Explicit: fromTemporaryCredentials otherwise falls back to AWS_REGION, then us-east-1.
      clientConfig: stsConfig,
    });
    identity = await provider();
  } else {
    identity = typeof source === "function" ? await source() : source;
  }
  registerSecret(identity.secretAccessKey);
  if (identity.sessionToken) registerSecret(identity.sessionToken);
  return identity;
}
