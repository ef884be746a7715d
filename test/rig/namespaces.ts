// Fresh, uniquely named namespaces for one test suite, so suites can share a cluster.
import { randomBytes } from "node:crypto";
import { CoreV1Api, type KubeConfig } from "@kubernetes/client-node";
import { waitFor } from "./util.ts";

export interface NamespaceSet {
  /** The namespace names, in the order asked for. */
  names: string[];
  /** Deletes them (and, with waitGone, waits until they are gone: needs kube-controller-manager). */
  cleanup(opts?: { waitGone?: boolean }): Promise<void>;
}

/**
 * Creates `count` namespaces named `<prefix>-<random>-<i>` (or the given suffixes), with the
 * given labels, e.g. `const ns = await createNamespaces(cluster.kubeConfig(), "sync", 3, { team: "a" })`.
 */
export async function createNamespaces(
  kc: KubeConfig,
  prefix: string,
  countOrSuffixes: number | string[] = 1,
  labels: Record<string, string> = {},
): Promise<NamespaceSet> {
  const core = kc.makeApiClient(CoreV1Api);
  const run = randomBytes(3).toString("hex");
  const suffixes =
    typeof countOrSuffixes === "number"
      ? Array.from({ length: countOrSuffixes }, (_, i) => String(i))
      : countOrSuffixes;
  const names = suffixes.map((s) => `${prefix}-${run}-${s}`.toLowerCase().slice(0, 63).replace(/-+$/, ""));
  for (const name of names) {
    await core.createNamespace({
      body: { metadata: { name, labels: { "regcred-rig": "true", ...labels } } },
    });
  }
  return {
    names,
    async cleanup(opts = {}) {
      for (const name of names) {
        try {
          await core.deleteNamespace({ name });
        } catch (e) {
          if ((e as { code?: number }).code !== 404) throw e;
        }
      }
      if (opts.waitGone) {
        for (const name of names) {
          await waitFor(
            `namespace ${name} to be deleted`,
            async () => {
              try {
                await core.readNamespace({ name });
                return false;
              } catch (e) {
                if ((e as { code?: number }).code === 404) return true;
                throw e;
              }
            },
            { timeoutMs: 60_000, intervalMs: 250 },
          );
        }
      }
    },
  };
}
