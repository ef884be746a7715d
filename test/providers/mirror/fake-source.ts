import type { V1Secret } from "@kubernetes/client-node";
import { KubeHttpError } from "../../../src/kube/client.ts";
import type { ClusterAccess, ClusterSecret, ClusterSecretWatch } from "../../../providers/contract.ts";
import { asClusterError } from "../../../src/kube/cluster-access.ts";
import { mirrorProvider } from "../../../providers/mirror/index.ts";
import { buildProvider } from "../../helpers/provider-kit.ts";
import type { Logger } from "pino";
import { captureLogger } from "../../helpers/log.ts";

/**
 * The source Secret without a cluster. Behaves as the API server and the watch cache do: a
 * GET of an absent Secret is a 404 with a Status body; the watch knows nothing until it has listed
 * (`list()`), then reports what it holds and fires on every change.
 */
export class FakeSource implements ClusterSecret {
  secret: V1Secret | null = null;
  /** Thrown by the next reads instead of answering. */
  failure: unknown = null;
  reads = 0;
  listed = false;
  private listeners: Array<() => void> = [];
  opened: Array<{ namespace: string; name: string }> = [];

  /** The cluster capability a provider is given; API errors reach it as the real one turns them. */
  cluster(): ClusterAccess {
    return {
      secret: (where) => {
        this.opened.push(where);
        return this;
      },
    };
  }

  async read(): Promise<V1Secret> {
    this.reads += 1;
    if (this.failure) throw asClusterError(this.failure);
    if (!this.secret) throw asClusterError(apiError(404, 'secrets "src" not found'));
    return this.secret;
  }

  follow(onEvent: () => void): ClusterSecretWatch {
    this.listeners.push(onEvent);
    return {
      current: () => (this.listed ? this.secret : undefined),
      stop: async () => {
        this.listeners = this.listeners.filter((l) => l !== onEvent);
      },
    };
  }

  /** The watch's first list. */
  list(): void {
    this.listed = true;
    this.emit();
  }

  /** A watch event: the Secret was added, changed (pass it) or deleted (pass null). */
  change(secret: V1Secret | null): void {
    this.secret = secret;
    this.emit();
  }

  get watchers(): number {
    return this.listeners.length;
  }

  private emit(): void {
    this.listeners.forEach((l) => l());
  }
}

export function apiError(code: number, message: string): KubeHttpError {
  return new KubeHttpError(
    code,
    JSON.stringify({ kind: "Status", apiVersion: "v1", status: "Failure", message, code }),
    "GET",
    "/api/v1/namespaces/team/secrets/src",
  );
}

export const b64 = (text: string) => Buffer.from(text).toString("base64");

export function pullSecret(
  auths: Record<string, unknown>,
  opts: {
    type?: string;
    raw?: string;
    labels?: Record<string, string>;
    annotations?: Record<string, string>;
  } = {},
): V1Secret {
  const type = opts.type ?? "kubernetes.io/dockerconfigjson";
  const legacy = type === "kubernetes.io/dockercfg";
  const body = opts.raw ?? JSON.stringify(legacy ? auths : { auths });
  return {
    metadata: {
      name: "src",
      namespace: "shared",
      ...(opts.labels ? { labels: opts.labels } : {}),
      ...(opts.annotations ? { annotations: opts.annotations } : {}),
    },
    type,
    data: { [legacy ? ".dockercfg" : ".dockerconfigjson"]: b64(body) },
  };
}

export function mirror(
  fake: FakeSource,
  extra: Record<string, unknown> = {},
  opts: { kube?: boolean; log?: Logger } = {},
) {
  return buildProvider(
    mirrorProvider,
    { source: { namespace: "shared", name: "src" }, ...extra },
    {
      name: "m",
      ...(opts.log ? { capture: { ...captureLogger(), log: opts.log } } : {}),
      ...(opts.kube === false ? {} : { cluster: fake.cluster() }),
    },
  ).provider;
}
