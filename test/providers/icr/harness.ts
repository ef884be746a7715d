// Shared set-up of the icr tests: the TLS fake IAM, a fetch that trusts its CA (and nothing
// else), and providers built from real settings through the schema with a real secret reader.
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { generateKeyPairSync, randomBytes, randomUUID, type KeyObject } from "node:crypto";
import { Agent, fetch as undiciFetch } from "undici";
import { createSecretReader } from "../../../src/config/secret-reader.ts";
import { icrSchema } from "../../../providers/icr/schema.ts";
import { createIcrProvider, type IcrClients } from "../../../providers/icr/index.ts";
import type { Fetch } from "../../../providers/icr/iam.ts";
import type { Provider } from "../../../providers/contract.ts";
import { captureLogger } from "../../helpers/log.ts";
import { FakeIam } from "./fake-iam.ts";

export const CLUSTER_ISSUER = "https://kubernetes.default.svc.cluster.local";
export const REGISTRIES = ["us.icr.io", "icr.io", "private.de.icr.io"];

/** A fetch whose TLS trusts only the given CA: the provider talks real HTTPS to the fake. */
export function fetchTrusting(caPem: string): Fetch {
  const dispatcher = new Agent({ connect: { ca: caPem } });
  return ((input: string | URL, init?: RequestInit) =>
    undiciFetch(input, { ...(init as object), dispatcher } as never)) as unknown as Fetch;
}

export interface Harness {
  dir: string;
  iam: FakeIam;
  fetch: Fetch;
  /** A service ID's API key IAM knows. */
  apiKey: string;
  /** The cluster's service-account signing key (IAM trusts its public half). */
  clusterKey: KeyObject;
  profile: { id: string; name: string; crn: string };
  close(): Promise<void>;
}

export async function startHarness(): Promise<Harness> {
  const dir = mkdtempSync(join(tmpdir(), "regcred-icr-"));
  const iam = await FakeIam.start(dir);
  // Looks like an IBM Cloud API key: 44 characters of base64url.
  const apiKey = randomBytes(33).toString("base64url");
  iam.apiKeys.set(apiKey, { iamId: `iam-ServiceId-${randomUUID()}`, name: "regcred-puller" });
  const cluster = generateKeyPairSync("rsa", { modulusLength: 2048 });
  iam.clusters.push({ issuer: CLUSTER_ISSUER, keys: [cluster.publicKey] });
  const profile = {
    id: `Profile-${randomUUID()}`,
    name: "regcred-registry-reader",
    crn: `crn:v1:bluemix:public:iam-identity::a/${iam.accountId}::profile:Profile-${randomUUID()}`,
  };
  iam.profiles.push({
    ...profile,
    links: [{ issuer: CLUSTER_ISSUER, namespace: "regcred", serviceAccount: "regcred" }],
  });
  return {
    dir,
    iam,
    fetch: fetchTrusting(iam.caPem),
    apiKey,
    clusterKey: cluster.privateKey,
    profile,
    async close() {
      await iam.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

export function writeFile(h: Harness, name: string, value: string): string {
  const file = join(h.dir, name);
  writeFileSync(file, `${value}\n`);
  return file;
}

/** An icr provider built as the daemon builds it: settings through the schema, a real secret reader. */
export function icr(
  h: Harness,
  fields: Record<string, unknown>,
  opts: { capture?: ReturnType<typeof captureLogger>; clients?: IcrClients } = {},
): { provider: Provider; lines: string[] } {
  const capture = opts.capture ?? captureLogger();
  const settings = icrSchema.parse({
    name: "icr",
    provider: "icr",
    registries: REGISTRIES,
    iamEndpoint: h.iam.url,
    ...fields,
  });
  const provider = createIcrProvider(
    settings,
    { log: capture.log, secrets: createSecretReader(h.dir, {}) },
    { fetch: h.fetch, ...opts.clients },
  );
  return { provider, lines: capture.lines };
}

/** API key mode with the key IAM knows (or another) in a file. */
export function apiKeyProvider(h: Harness, key = h.apiKey, opts: Parameters<typeof icr>[2] = {}) {
  return icr(h, { apiKeyFrom: { file: writeFile(h, "apikey", key) } }, opts);
}

export async function mintError(
  provider: Provider,
): Promise<{ reason: string; message: string; requestId?: string }> {
  try {
    await provider.mint(new AbortController().signal);
  } catch (err) {
    return err as { reason: string; message: string; requestId?: string };
  }
  throw new Error("mint succeeded");
}
