// Shared set-up of the ECR tests (unit and integration): key files, a provider built from real
// config text, a sanitized AWS environment, and an SDK middleware that records each request.
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { ECRClient } from "@aws-sdk/client-ecr";
import type { ECRPUBLICClient } from "@aws-sdk/client-ecr-public";
import { parseConfig } from "../../../src/config/load.ts";
import { createSecretReader } from "../../../src/config/secret-reader.ts";
import { createEcrProvider, type EcrClients } from "../../../providers/ecr/index.ts";
import type { EcrSettings } from "../../../providers/ecr/schema.ts";
import type { Provider } from "../../../providers/contract.ts";
import { captureLogger } from "../../helpers/log.ts";

export const ACCESS_KEY_ID = "AKIAIOSFODNN7EXAMPLE";
export const SECRET_ACCESS_KEY = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY";

/** Parses one `provider: ecr` entry through the real config loader. */
export function ecrSettings(entry: string): EcrSettings {
  const yaml = `registries:\n  - name: prod-ecr\n    provider: ecr\n${entry
    .trim()
    .split("\n")
    .map((l) => `    ${l}`)
    .join("\n")}\nsecrets:\n  - name: regcred\n    registries: [prod-ecr]\n`;
  return parseConfig("test.yaml", yaml).registries[0]!.settings as EcrSettings;
}

/** A folder holding static key files, referenced by `auth` as keys/access-key-id etc. */
export function keyDir(accessKeyId = ACCESS_KEY_ID, secretAccessKey = SECRET_ACCESS_KEY): string {
  const dir = mkdtempSync(join(tmpdir(), "regcred-ecr-"));
  writeFileSync(join(dir, "access-key-id"), `${accessKeyId}\n`);
  writeFileSync(join(dir, "secret-access-key"), `${secretAccessKey}\n`);
  return dir;
}

export const STATIC_AUTH =
  "auth: { accessKeyIdFrom: { file: access-key-id }, secretAccessKeyFrom: { file: secret-access-key } }";

export function ecrProvider(
  entry: string,
  opts: { dir?: string; clients?: Partial<EcrClients>; level?: "debug" | "info" } = {},
): { provider: Provider; settings: EcrSettings } & ReturnType<typeof captureLogger> {
  const settings = ecrSettings(entry);
  const logger = captureLogger(opts.level ?? "debug");
  const provider = createEcrProvider(
    settings,
    { log: logger.log, secrets: createSecretReader(opts.dir ?? tmpdir()) },
    opts.clients,
  );
  return { provider, settings, ...logger };
}

const AWS_ENV = /^AWS_/;

/**
 * Removes every AWS_* variable (a developer's keys, profile or endpoint must not leak into a
 * test), points the shared config files nowhere, disables IMDS, then applies `set`. Returns the
 * restore function.
 */
export function awsEnv(set: Record<string, string> = {}): () => void {
  const saved = Object.fromEntries(Object.entries(process.env).filter(([k]) => AWS_ENV.test(k)));
  for (const k of Object.keys(saved)) delete process.env[k];
  Object.assign(process.env, {
    AWS_CONFIG_FILE: "/nonexistent/regcred-test/config",
    AWS_SHARED_CREDENTIALS_FILE: "/nonexistent/regcred-test/credentials",
    AWS_EC2_METADATA_DISABLED: "true",
    ...set,
  });
  return () => {
    for (const k of Object.keys(process.env)) if (AWS_ENV.test(k)) delete process.env[k];
    Object.assign(process.env, saved);
  };
}

export interface SeenRequest {
  hostname: string;
  port: number | undefined;
  path: string;
  target: string | undefined;
  /** The access key ID and scope of the SigV4 Authorization header. */
  credential: string | undefined;
  body: string;
}

/**
 * Records every request a client sends, as signed: host, X-Amz-Target
 * and the SigV4 credential scope. This is how the tests count GetAuthorizationToken calls.
 */
export function recordRequests(client: ECRClient | ECRPUBLICClient, into: SeenRequest[]): void {
  (client as ECRClient).middlewareStack.add(
    (next) => async (args) => {
      const req = args.request as {
        hostname: string;
        port?: number;
        path: string;
        headers: Record<string, string>;
        body?: unknown;
      };
      into.push({
        hostname: req.hostname,
        port: req.port,
        path: req.path,
        target: req.headers["x-amz-target"],
        credential: /Credential=([^,]+)/.exec(req.headers["authorization"] ?? "")?.[1],
        body:
          typeof req.body === "string"
            ? req.body
            : req.body instanceof Uint8Array
              ? Buffer.from(req.body).toString("utf8")
              : "",
      });
      return next(args);
    },
    // The deserialize step runs after signing and retries: one record per HTTP request sent.
    { step: "deserialize", name: "regcredTestRecorder" },
  );
}
