// Shared set-up of the ACR tests: the fake Entra authority (TLS, test CA) and the fake ACR
// exchange, and a provider built from real settings whose identity client trusts the test CA.
import { Agent } from "node:https";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { generateKeyPairSync, type KeyObject } from "node:crypto";
import type { Logger } from "pino";
import { createLogger } from "../../../src/observe/log.ts";
import { createSecretReader } from "../../../src/config/secret-reader.ts";
import { acrSchema } from "../../../providers/acr/schema.ts";
import { createAcrProvider, type AcrClients } from "../../../providers/acr/index.ts";
import type { Provider } from "../../../providers/contract.ts";
import { makeCA, makeServingCert } from "../../rig/certs.ts";
import { FakeEntra, type EntraApp } from "./fake-entra.ts";
import { FakeAcr } from "./fake-acr.ts";

export const TENANT = "72f988bf-86f1-41af-91ab-2d7cd011db47";
export const SP_CLIENT = "11111111-2222-3333-4444-555555555555";
export const SP_SECRET = "sp~secret.Value_0123456789abcdefghij";
export const CERT_CLIENT = "66666666-7777-8888-9999-000000000000";
export const WI_CLIENT = "aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee";
export const CLUSTER_ISSUER = "https://oidc.prod-aks.azure.com/0f6d1a4e-7c1b-4d8e-9f3a-2b5c6d7e8f90/";
export const WI_SUBJECT = "system:serviceaccount:regcred:regcred";
export const REGISTRIES = ["prodreg.azurecr.io", "stagingreg.azurecr.io"];
export const ACR_SCOPE = "https://containerregistry.azure.net/.default";
export const ARM_SCOPE = "https://management.azure.com/.default";

export interface Harness {
  dir: string;
  entra: FakeEntra;
  acr: FakeAcr;
  /** The cluster's service-account signing key (the OIDC issuer's key). */
  issuerKey: KeyObject;
  /** PEM with the service principal's certificate and private key. */
  certificatePem: string;
  clients: Partial<AcrClients>;
  close(): Promise<void>;
}

export async function startHarness(extraApps: EntraApp[] = []): Promise<Harness> {
  const dir = mkdtempSync(join(tmpdir(), "regcred-acr-"));
  const issuer = generateKeyPairSync("rsa", { modulusLength: 2048 });
  // The service principal's certificate: any X.509 cert Entra has on file; here one from openssl.
  const appCa = await makeCA(mkdtempSync(join(dir, "app-")), "sp-app-ca");
  const appCert = await makeServingCert(dir, "sp-app", appCa, { cn: "regcred-sp" });
  const certPem = readFileSync(appCert.certFile, "utf8");
  const certificatePem = certPem + readFileSync(appCert.keyFile, "utf8");

  const entra = await FakeEntra.start({
    dir,
    tenant: TENANT,
    scopes: [ACR_SCOPE, ARM_SCOPE],
    apps: [
      { clientId: SP_CLIENT, secret: SP_SECRET },
      { clientId: CERT_CLIENT, certificate: certPem },
      {
        clientId: WI_CLIENT,
        federated: {
          issuer: CLUSTER_ISSUER,
          subject: WI_SUBJECT,
          audience: "api://AzureADTokenExchange",
          issuerKey: issuer.publicKey,
        },
      },
      ...extraApps,
    ],
  });
  const acr = await FakeAcr.start(entra, REGISTRIES);
  return {
    dir,
    entra,
    acr,
    issuerKey: issuer.privateKey,
    certificatePem,
    clients: {
      // The one place the test CA is trusted: @azure/identity hands these options to the Azure
      // pipeline it gives MSAL as network client, and the pipeline honours `agent`.
      // Short retry delays: the SDK's own back-off (about 0.8 s, 1.6 s, 3.2 s) would make an
      // unreachable authority take seconds per attempt.
      identityOptions: {
        agent: new Agent({ ca: entra.caPem }),
        retryOptions: { maxRetries: 2, retryDelayInMs: 20, maxRetryDelayInMs: 50 },
      },
      exchangeUrl: acr.exchangeUrl,
    },
    async close() {
      await acr.close();
      await entra.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** ACR settings as the config loader would produce them (defaults applied). */
export function acrSettings(h: Harness, fields: Record<string, unknown>) {
  return acrSchema.parse({
    name: "acr",
    provider: "acr",
    registries: REGISTRIES,
    authorityHost: h.entra.url,
    // Microsoft's instance discovery does not know a private authority (see providers/acr/README.md).
    disableInstanceDiscovery: true,
    ...fields,
  });
}

export function captureLog(): { log: Logger; lines: string[] } {
  const lines: string[] = [];
  const log = createLogger({ level: "debug", destination: { write: (s: string) => lines.push(s) } as never });
  return { log, lines };
}

export function makeProvider(
  h: Harness,
  fields: Record<string, unknown>,
  opts: { log?: Logger; clients?: Partial<AcrClients> } = {},
): Provider {
  const log = opts.log ?? captureLog().log;
  return createAcrProvider(
    acrSettings(h, fields),
    { log, secrets: createSecretReader(h.dir) },
    { ...h.clients, ...opts.clients },
  );
}

export function writeSecretFile(h: Harness, name: string, value: string): string {
  writeFileSync(join(h.dir, name), `${value}\n`);
  return name;
}
