import { readFile } from "node:fs/promises";
import { watch, type FSWatcher } from "node:fs";
import path from "node:path";
import { registerSecret } from "../base/redact.ts";
import { ProviderError, type SecretReader } from "../../providers/contract.ts";
import { describeRef } from "../base/secret-ref.ts";

/**
 * Reads secret references from mounted files and the environment. Relative paths resolve
 * against the config file's folder, so an example config can ship beside its files.
 */
export function createSecretReader(baseDir: string, env: NodeJS.ProcessEnv = process.env): SecretReader {
  const resolve = (file: string) => path.resolve(baseDir, file);
  return {
    async read(ref) {
      let value: string | undefined;
      if ("file" in ref) {
        try {
          value = await readFile(resolve(ref.file), "utf8");
        } catch (err) {
          const code = (err as NodeJS.ErrnoException).code ?? "error";
          throw new ProviderError("source_unavailable", `cannot read ${describeRef(ref)}: ${code}`, {
            cause: err,
          });
        }
      } else {
        value = env[ref.env];
        if (value === undefined) {
          throw new ProviderError("source_unavailable", `${describeRef(ref)} is not set`);
        }
      }
      value = value.replace(/\r?\n$/, "");
      if (value === "") throw new ProviderError("source_unavailable", `${describeRef(ref)} is empty`);
      registerSecret(value);
      return value;
    },
    watch(ref, onChange) {
      if (!("file" in ref)) return () => {};
      return watchFile(resolve(ref.file), onChange);
    },
  };
}

/**
 * Watches the file's folder, not the file: Kubernetes updates mounted Secrets by swapping a
 * `..data` symlink, which a watch on the old file never sees.
 */
function watchFile(file: string, onChange: () => void): () => void {
  const dir = path.dirname(file);
  const base = path.basename(file);
  let timer: NodeJS.Timeout | undefined;
  let watcher: FSWatcher | undefined;
  try {
    watcher = watch(dir, { persistent: false }, (_event, name) => {
      if (name !== null && name !== base && !name.startsWith("..")) return;
      clearTimeout(timer);
      // Editors and the kubelet write in several steps; settle before re-reading.
      timer = setTimeout(onChange, 100);
    });
    watcher.on("error", () => watcher?.close());
  } catch {
    // The folder may not exist yet; the next scheduled refresh reports the read error.
  }
  return () => {
    clearTimeout(timer);
    watcher?.close();
  };
}
