// moto_server on a GIVEN port: the rig's startMoto() always picks a free port, and the outage
// test needs "the same endpoint comes back" (what a client sees when AWS recovers).
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ensureTool } from "../../rig/tools.ts";
import { ManagedProcess, waitFor } from "../../rig/util.ts";

export interface PortMoto {
  stop(): Promise<void>;
}

export async function startMotoOnPort(port: number): Promise<PortMoto> {
  const bin = await ensureTool("moto_server");
  const dir = mkdtempSync(join(tmpdir(), "regcred-ecr-moto-"));
  const proc = new ManagedProcess("moto_server", join(dir, "moto.log"));
  proc.start(bin, ["-H", "127.0.0.1", "-p", String(port)], {
    env: { ...process.env, PYTHONUNBUFFERED: "1" },
  });
  try {
    await waitFor(
      `moto_server on port ${port}`,
      async () => (await fetch(`http://127.0.0.1:${port}/moto-api/data.json`)).ok,
      { timeoutMs: 60_000, intervalMs: 200, proc },
    );
  } catch (e) {
    await proc.stop();
    rmSync(dir, { recursive: true, force: true });
    throw e;
  }
  return {
    async stop() {
      await proc.stop();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
