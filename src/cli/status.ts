import { createHash } from "node:crypto";
import type { V1Secret } from "@kubernetes/client-node";
import { KubeApi } from "../kube/api.ts";
import { loadKubeConfig } from "../kube/client.ts";
import {
  ANNOTATION_EXPIRES,
  ANNOTATION_HASH,
  ANNOTATION_REGISTRIES,
  LABEL_INSTANCE,
  LABEL_MANAGED_BY,
  LABEL_TARGET,
} from "../engine/plan.ts";
import { EXIT } from "./errors.ts";
import type { Io } from "./commands.ts";
import { formatTable } from "./table.ts";

export interface ManagedSecretStatus {
  namespace: string;
  secret: string;
  instance: string;
  registries: string[];
  expiresAt: string | null;
  /** The content matches what regcred wrote (its hash) and has not expired. */
  inSync: boolean;
  problem: string | null;
}

/** One managed Secret's state, judged from the Secret alone: no daemon, no minting. */
export function secretStatus(s: V1Secret, now: number): ManagedSecretStatus {
  const annotations = s.metadata?.annotations ?? {};
  const data = s.data?.[".dockerconfigjson"];
  const expiresAt = annotations[ANNOTATION_EXPIRES] ?? null;
  let problem: string | null = null;
  if (!data) problem = "no .dockerconfigjson";
  else {
    const hash = createHash("sha256").update(Buffer.from(data, "base64")).digest("hex").slice(0, 16);
    if (hash !== annotations[ANNOTATION_HASH]) problem = "edited since regcred wrote it";
  }
  if (!problem && expiresAt && Date.parse(expiresAt) <= now) problem = "expired";
  return {
    namespace: s.metadata!.namespace!,
    secret: s.metadata!.name!,
    instance: s.metadata?.labels?.[LABEL_INSTANCE] ?? "",
    registries: (annotations[ANNOTATION_REGISTRIES] ?? "").split(",").filter(Boolean),
    expiresAt,
    inSync: problem === null,
    problem,
  };
}

export async function statusCommand(
  options: { kubeconfig?: string; filter?: string; output: string },
  io: Io,
): Promise<number> {
  const api = new KubeApi(loadKubeConfig(options.kubeconfig));
  const list = await api.listSecrets(undefined, {
    labelSelector: `${LABEL_MANAGED_BY}=regcred,${LABEL_TARGET}`,
  });
  const needle = options.filter?.toLowerCase();
  const rows = list.items
    .map((s) => secretStatus(s, Date.now()))
    .filter(
      (r) =>
        !needle ||
        [r.namespace, r.secret, r.instance, ...r.registries].some((f) => f.toLowerCase().includes(needle)),
    )
    .sort((a, b) => a.namespace.localeCompare(b.namespace) || a.secret.localeCompare(b.secret));
  if (options.output === "json") {
    io.stdout(`${JSON.stringify(rows, null, 2)}\n`);
  } else {
    const table = [
      ["NAMESPACE", "SECRET", "REGISTRIES", "EXPIRES", "IN SYNC"],
      ...rows.map((r) => [
        r.namespace,
        r.secret,
        r.registries.join(",") || "-",
        r.expiresAt ?? "never",
        r.inSync ? "yes" : `no (${r.problem})`,
      ]),
    ];
    io.stdout(formatTable(table));
  }
  return rows.every((r) => r.inSync) ? EXIT.ok : EXIT.failure;
}
