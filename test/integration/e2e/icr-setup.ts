// The icr provider's e2e set-up, kept apart so an on-node pull test can reuse it: the TLS fake
// IAM, the registries: YAML for both modes, a provider factory that builds the icr provider from
// the settings the config loader parsed (only its fetch differs: it trusts the fake IAM's CA),
// and, for trusted profiles, the rig's real API server as the compute resource: IAM is told the
// cluster's issuer and keys (from its OIDC discovery endpoints) and regcred gets a real projected
// service account token (TokenRequest, audience iam).
import { createPublicKey, type JsonWebKey } from "node:crypto";
import type { Logger } from "pino";
import {
  AuthenticationV1TokenRequest,
  CoreV1Api,
  OpenidApi,
  WellKnownApi,
  type KubeConfig,
} from "@kubernetes/client-node";
import type { Config } from "../../../src/config/schema.ts";
import { createSecretReader } from "../../../src/config/secret-reader.ts";
import { createIcrProvider } from "../../../providers/icr/index.ts";
import type { IcrSettings } from "../../../providers/icr/schema.ts";
import type { Provider } from "../../../providers/contract.ts";
import { startHarness, writeFile, type Harness } from "../../providers/icr/harness.ts";

export type IcrIam = Harness;

/** The fake IAM with one known API key and one trusted profile (harness.ts). */
export const startIcrIam = startHarness;

/** `registries:` items for one icr entry named `under-test` (absolute paths: the config has no folder). */
export function icrRegistryYaml(
  iam: IcrIam,
  registries: string[],
  auth: { apiKey: string } | { profileId: string; crTokenFile: string },
): string {
  const mode =
    "apiKey" in auth
      ? `    apiKeyFrom: { file: ${writeFile(iam, "e2e-apikey", auth.apiKey)} }`
      : `    trustedProfile: { profileId: ${auth.profileId}, crTokenFile: ${auth.crTokenFile} }`;
  return `  - name: under-test
    provider: icr
    registryCheck: false # the registry learns the token IAM issued only after rollout
    registries: [${registries.join(", ")}]
    iamEndpoint: ${iam.iam.url}
${mode}`;
}

/** The providers the daemon gets: the table's icr provider, whose fetch trusts the fake IAM. */
export function icrProviders(iam: IcrIam): (config: Config, log: Logger) => Record<string, Provider> {
  return (config, log) => {
    const entry = config.registries.find((r) => r.name === "under-test")!;
    return {
      "under-test": createIcrProvider(
        entry.settings as IcrSettings,
        { log: log.child({ registry: "under-test" }), secrets: createSecretReader(iam.dir) },
        { fetch: iam.fetch },
      ),
    };
  };
}

/**
 * Makes the fake IAM trust the cluster as IKS registers a cluster with IAM: its service-account
 * issuer and signing keys, read from the API server's OIDC discovery endpoints; links the
 * profile to `namespace/serviceAccount`.
 */
export async function trustCluster(iam: IcrIam, kc: KubeConfig, namespace: string, serviceAccount: string) {
  // Typed as strings, but client-node hands back the parsed JSON documents.
  const json = <T>(v: unknown) => (typeof v === "string" ? JSON.parse(v) : v) as T;
  const discovery = json<{ issuer: string }>(
    await kc.makeApiClient(WellKnownApi).getServiceAccountIssuerOpenIDConfiguration(),
  );
  const jwks = json<{ keys: JsonWebKey[] }>(
    await kc.makeApiClient(OpenidApi).getServiceAccountIssuerOpenIDKeyset(),
  );
  iam.iam.clusters.push({
    issuer: discovery.issuer,
    keys: jwks.keys.map((key) => createPublicKey({ key, format: "jwk" })),
  });
  iam.iam.profiles
    .find((p) => p.id === iam.profile.id)!
    .links.push({
      issuer: discovery.issuer,
      namespace,
      serviceAccount,
    });
  return discovery.issuer;
}

/** A projected-style token for the ServiceAccount from the real API server (TokenRequest, audience iam). */
export async function requestCrToken(
  kc: KubeConfig,
  namespace: string,
  serviceAccount: string,
): Promise<string> {
  const core = kc.makeApiClient(CoreV1Api);
  await core.createNamespacedServiceAccount({ namespace, body: { metadata: { name: serviceAccount } } });
  const body = new AuthenticationV1TokenRequest();
  body.spec = { audiences: ["iam"], expirationSeconds: 3600 };
  const minted = await core.createNamespacedServiceAccountToken({ namespace, name: serviceAccount, body });
  const token = minted.status?.token;
  if (!token) throw new Error("TokenRequest returned no token");
  return token;
}
