import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";

/**
 * A directory with the smallest config `regcred run` starts from: one static Docker Hub
 * registry whose password file holds `password`, one target, the HTTP server on a free port.
 * `extra` is appended to the config (YAML at top level).
 */
export function writeRunConfig(password: string, extra = ""): { dir: string; config: string } {
  const dir = mkdtempSync(path.join(tmpdir(), "regcred-run-"));
  writeFileSync(path.join(dir, "pw"), password);
  const config = path.join(dir, "config.yaml");
  writeFileSync(
    config,
    `registries:
  - { name: hub, provider: static, registries: [docker.io], username: u, passwordFrom: { file: pw } }
secrets:
  - { name: pull, registries: [hub] }
server: { port: 0, host: 127.0.0.1 }
${extra}`,
  );
  return { dir, config };
}
