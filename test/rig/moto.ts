// moto (AWS emulator, PyPI moto[server]) on loopback. Point AWS SDK clients at `endpoint`
// (or set AWS_ENDPOINT_URL_ECR / AWS_ENDPOINT_URL_STS to it); any access keys work.
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ensureTool, MOTO_VERSION } from "./tools.ts";
import { freePort, log, ManagedProcess, RigError, waitFor } from "./util.ts";

export interface Moto {
  /** http://127.0.0.1:PORT */
  endpoint: string;
  version: string;
  /** Static test credentials and region to hand to SDK clients. */
  credentials: { accessKeyId: string; secretAccessKey: string };
  region: string;
  /** Environment for a child process (e.g. regcred) that should talk to this moto. */
  env(): Record<string, string>;
  /** Forget all state (POST /moto-api/reset): call between tests. */
  reset(): Promise<void>;
  stop(): Promise<void>;
}

export async function startMoto(): Promise<Moto> {
  const bin = await ensureTool("moto_server");
  const dir = mkdtempSync(join(tmpdir(), "regcred-rig-moto-"));
  const port = await freePort();
  const endpoint = `http://127.0.0.1:${port}`;
  const proc = new ManagedProcess("moto_server", join(dir, "moto.log"));
  proc.start(bin, ["-H", "127.0.0.1", "-p", String(port)], {
    env: { ...process.env, PYTHONUNBUFFERED: "1" },
  });
  try {
    await waitFor(
      `moto_server at ${endpoint}`,
      async () => (await fetch(`${endpoint}/moto-api/data.json`)).ok,
      { timeoutMs: 60_000, intervalMs: 200, proc },
    );
  } catch (e) {
    await proc.stop();
    rmSync(dir, { recursive: true, force: true });
    throw e;
  }
  log(`moto ${MOTO_VERSION} at ${endpoint}`);
  const credentials = {
    accessKeyId: "AKIAIOSFODNN7EXAMPLE",
    secretAccessKey: "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
  };
  const region = "eu-west-1";
  return {
    endpoint,
    version: MOTO_VERSION,
    credentials,
    region,
    env: () => ({
      AWS_ENDPOINT_URL: endpoint,
      AWS_ENDPOINT_URL_ECR: endpoint,
      AWS_ENDPOINT_URL_STS: endpoint,
      AWS_ACCESS_KEY_ID: credentials.accessKeyId,
      AWS_SECRET_ACCESS_KEY: credentials.secretAccessKey,
      AWS_REGION: region,
      AWS_EC2_METADATA_DISABLED: "true",
    }),
    async reset() {
      const r = await fetch(`${endpoint}/moto-api/reset`, { method: "POST" });
      if (!r.ok) throw new RigError(`moto reset failed: ${r.status} ${await r.text()}`);
    },
    async stop() {
      await proc.stop();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
