import { mkdir, readdir, readFile, rename, rm, writeFile } from "node:fs/promises";
import path from "node:path";
import type { Logger } from "pino";
import { LABEL_MANAGED_BY, type Plan } from "../engine/plan.ts";
import type { Metrics } from "../observe/metrics.ts";
import { manifestsToYaml } from "./manifest.ts";
import { emptyResult, type Sink, type SinkResult } from "../engine/sink.ts";

const MANAGED_MARK = `${LABEL_MANAGED_BY}: regcred`;

/**
 * Writes each Secret to DIR/<namespace>/<name>.yaml, for GitOps pipelines and for trying
 * regcred without a cluster. Each file is replaced atomically (write, then rename), written
 * only when its content changed, and removed when no target wants it any more, but only files
 * that carry regcred's managed-by label.
 */
export function createDirSink(dir: string, deps: { log: Logger; metrics: Metrics }): Sink {
  const root = path.resolve(dir);
  return {
    description: `directory ${root}`,
    async apply(plan: Plan): Promise<SinkResult> {
      const result = emptyResult();
      const wanted = new Set<string>();
      for (const secret of plan.secrets) {
        const file = path.join(root, secret.namespace, `${secret.name}.yaml`);
        wanted.add(file);
        const content = manifestsToYaml([secret]);
        const existing = await readFile(file, "utf8").catch(() => null);
        const outcome = existing === null ? "created" : existing === content ? "unchanged" : "updated";
        try {
          if (outcome !== "unchanged") await writeAtomically(file, content);
          result[outcome]++;
          deps.metrics.secretWrites.inc({ secret: secret.name, result: outcome });
        } catch (err) {
          result.failed++;
          deps.metrics.secretWrites.inc({ secret: secret.name, result: "failed" });
          deps.log.error({ err, namespace: secret.namespace, secret: secret.name }, `cannot write ${file}`);
        }
      }
      for (const file of await managedFiles(root)) {
        if (wanted.has(file)) continue;
        await rm(file, { force: true });
        result.deleted++;
        deps.metrics.secretWrites.inc({ secret: path.basename(file, ".yaml"), result: "deleted" });
      }
      return result;
    },
  };
}

async function writeAtomically(file: string, content: string): Promise<void> {
  await mkdir(path.dirname(file), { recursive: true });
  const temp = path.join(path.dirname(file), `.${path.basename(file)}.${process.pid}.tmp`);
  // 0600: the file holds registry passwords.
  await writeFile(temp, content, { mode: 0o600 });
  await rename(temp, file);
}

async function managedFiles(root: string): Promise<string[]> {
  const files: string[] = [];
  const namespaces = await readdir(root, { withFileTypes: true }).catch(() => []);
  for (const ns of namespaces) {
    if (!ns.isDirectory()) continue;
    for (const name of await readdir(path.join(root, ns.name)).catch(() => [] as string[])) {
      if (!name.endsWith(".yaml") || name.startsWith(".")) continue;
      const file = path.join(root, ns.name, name);
      const text = await readFile(file, "utf8").catch(() => "");
      if (text.includes(MANAGED_MARK)) files.push(file);
    }
  }
  return files;
}
