import { stringify } from "yaml";
import type { DesiredSecret } from "../engine/plan.ts";

export interface SecretManifest {
  apiVersion: "v1";
  kind: "Secret";
  metadata: {
    name: string;
    namespace: string;
    labels: Record<string, string>;
    annotations: Record<string, string>;
  };
  type: string;
  data: Record<string, string>;
}

/** The Secret object as `kubectl create secret docker-registry --dry-run=client -o yaml` shapes it. */
export function secretManifest(secret: DesiredSecret): SecretManifest {
  return {
    apiVersion: "v1",
    kind: "Secret",
    metadata: {
      name: secret.name,
      namespace: secret.namespace,
      labels: { ...secret.body.labels },
      annotations: { ...secret.body.annotations },
    },
    type: secret.type,
    data: { ".dockerconfigjson": secret.body.data },
  };
}

export function manifestsToYaml(secrets: readonly DesiredSecret[]): string {
  return secrets.map((s) => stringify(secretManifest(s), { lineWidth: 0 })).join("---\n");
}
