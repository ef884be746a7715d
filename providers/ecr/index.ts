import { ECRClient, GetAuthorizationTokenCommand, type ECRClientConfig } from "@aws-sdk/client-ecr";
import {
  ECRPUBLICClient,
  GetAuthorizationTokenCommand as GetPublicAuthorizationTokenCommand,
  type ECRPUBLICClientConfig,
} from "@aws-sdk/client-ecr-public";
import {
  ProviderError,
  type Credential,
  type Provider,
  type ProviderContext,
  type ProviderDefinition,
} from "../contract.ts";
import { ecrSchema, regionsOf, type EcrSettings } from "./schema.ts";
import { ECR_PUBLIC_HOST, parseEcrHost } from "./hosts.ts";
import {
  defaultCredentialFactories,
  describeAuth,
  resolveIdentity,
  type AwsIdentity,
  type CredentialFactories,
} from "./credentials.ts";
import { awsError } from "./errors.ts";
import { registerSecret, normalizeRegistryKey, isAbort, watchRefs } from "../kit.ts";

/** What talks to AWS, injectable so tests can point it at moto or nock. */
export interface EcrClients extends CredentialFactories {
  ecr(config: ECRClientConfig): ECRClient;
  ecrPublic(config: ECRPUBLICClientConfig): ECRPUBLICClient;
}

export const defaultEcrClients: EcrClients = {
  ...defaultCredentialFactories,
  ecr: (config) => new ECRClient(config),
  ecrPublic: (config) => new ECRPUBLICClient(config),
};

/** One region's authorizationData, as both ECR APIs return it. */
interface AuthorizationData {
  authorizationToken?: string | undefined;
  expiresAt?: Date | undefined;
  proxyEndpoint?: string | undefined;
}

/** The hosts configured for a region besides the one ECR returns. */
export function extraHosts(settings: EcrSettings, region: string): string[] {
  return settings.registries.flatMap((item) => {
    if (typeof item !== "string") return item.region === region ? [item.host] : [];
    if (settings.public) return [item];
    const parsed = parseEcrHost(item);
    return parsed.ok && parsed.host.region === region ? [item] : [];
  });
}

/**
 * `authorizationToken` is base64("AWS:<password>"). The password may itself hold colons (it is
 * opaque, and its length varies): split on the first colon only.
 */
export function decodeAuthorizationToken(token: string): { username: string; password: string } | undefined {
  const decoded = Buffer.from(token, "base64").toString("utf8");
  const colon = decoded.indexOf(":");
  if (colon <= 0 || colon === decoded.length - 1) return undefined;
  return { username: decoded.slice(0, colon), password: decoded.slice(colon + 1) };
}

/**
 * Amazon ECR (private, per region) and ECR Public. Per refresh: one identity resolution (default
 * chain or static keys, optionally an STS AssumeRole), then one client and one
 * GetAuthorizationToken per region, in parallel. The token covers every registry of that region
 * the identity may read, so other accounts' hosts only need listing in `registries`.
 */
export function createEcrProvider(
  settings: EcrSettings,
  ctx: ProviderContext,
  clients: Partial<EcrClients> = {},
): Provider {
  const c: EcrClients = { ...defaultEcrClients, ...clients };
  const regions = regionsOf(settings);
  const stsRegion = settings.assumeRole?.stsRegion ?? regions[0]!;
  const endpointOptions = {
    ...(settings.endpoint ? { endpoint: settings.endpoint } : {}),
    // Passed only when set, so AWS_USE_FIPS_ENDPOINT / AWS_USE_DUALSTACK_ENDPOINT still apply.
    ...(settings.fips !== undefined ? { useFipsEndpoint: settings.fips } : {}),
    ...(settings.dualstack !== undefined ? { useDualstackEndpoint: settings.dualstack } : {}),
  };

  function toCredential(
    region: string,
    data: AuthorizationData | undefined,
    requestId: string | undefined,
    defaultHost: string | undefined,
  ): Credential {
    const what = `${settings.public ? "ECR Public" : "ECR"} GetAuthorizationToken (${region})`;
    const invalid = (message: string) =>
      new ProviderError("invalid_response", `${what}: ${message}`, requestId ? { requestId } : {});
    if (!data?.authorizationToken) throw invalid("no authorizationData in the response");
    registerSecret(data.authorizationToken);
    const decoded = decodeAuthorizationToken(data.authorizationToken);
    if (!decoded) throw invalid("authorizationToken is not base64 of user:password");
    registerSecret(decoded.password);
    const expiresAt = data.expiresAt;
    if (!(expiresAt instanceof Date) || Number.isNaN(expiresAt.getTime())) {
      // Never assume a lifetime: without the true expiry the schedule would be a guess.
      throw invalid("no expiresAt in the response");
    }
    let own: string | undefined = defaultHost;
    if (data.proxyEndpoint) {
      const key = normalizeRegistryKey(data.proxyEndpoint);
      if (!key.ok) throw invalid(`unusable proxyEndpoint ${JSON.stringify(data.proxyEndpoint)}`);
      own = key.key;
    }
    const registries = [...new Set([...(own ? [own] : []), ...extraHosts(settings, region)])];
    if (registries.length === 0)
      throw invalid("no proxyEndpoint in the response and no registries configured");
    ctx.log.debug(
      { region, registries, expiresAt: expiresAt.toISOString(), requestId },
      `${settings.public ? "ECR Public" : "ECR"} token minted`,
    );
    return { registries, username: decoded.username, password: decoded.password, expiresAt };
  }

  async function mintPrivate(
    region: string,
    identity: AwsIdentity,
    signal: AbortSignal,
  ): Promise<Credential> {
    const client = c.ecr({ region, credentials: identity, ...endpointOptions });
    try {
      // {}: registryIds is deprecated; the token is the same for every registry of the region.
      const out = await client.send(new GetAuthorizationTokenCommand({}), { abortSignal: signal });
      return toCredential(region, out.authorizationData?.[0], out.$metadata.requestId, undefined);
    } catch (err) {
      if (isAbort(err, signal)) throw err;
      throw awsError(err, `ECR GetAuthorizationToken (${region})`);
    } finally {
      client.destroy();
    }
  }

  async function mintPublic(region: string, identity: AwsIdentity, signal: AbortSignal): Promise<Credential> {
    const client = c.ecrPublic({ region, credentials: identity, ...endpointOptions });
    try {
      const out = await client.send(new GetPublicAuthorizationTokenCommand({}), { abortSignal: signal });
      // ECR Public's authorizationData is one object, without proxyEndpoint.
      return toCredential(region, out.authorizationData, out.$metadata.requestId, ECR_PUBLIC_HOST);
    } catch (err) {
      if (isAbort(err, signal)) throw err;
      throw awsError(err, `ECR Public GetAuthorizationToken (${region})`);
    } finally {
      client.destroy();
    }
  }

  return {
    async mint(signal) {
      let identity: AwsIdentity;
      try {
        identity = await resolveIdentity(settings, ctx, stsRegion, c);
      } catch (err) {
        if (isAbort(err, signal)) throw err;
        throw awsError(err, `AWS credentials (${describeAuth(settings)})`);
      }
      signal.throwIfAborted();
      const mintRegion = settings.public ? mintPublic : mintPrivate;
      // Any region failing fails the refresh: the refresher keeps the last good set whole.
      return Promise.all(regions.map((region) => mintRegion(region, identity, signal)));
    },
    watch(onChange) {
      const auth = settings.auth;
      if (!auth) return () => {};
      return watchRefs(
        ctx.secrets,
        [auth.accessKeyIdFrom, auth.secretAccessKeyFrom, auth.sessionTokenFrom],
        onChange,
      );
    },
  };
}

export const ecrProvider: ProviderDefinition<EcrSettings> = {
  kind: "ecr",
  schema: ecrSchema,
  create: (settings, ctx) => createEcrProvider(settings, ctx),
};
