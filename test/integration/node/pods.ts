// Pods on the rig's node, seen only through the API server (Pod status and Events) and the
// node's podLogsDir: never logs/exec through the API server (TESTING.md's network rules).
import { CoreV1Api, type CoreV1Event, type KubeConfig, type V1Pod } from "@kubernetes/client-node";

export interface PodSpecOptions {
  imagePullSecrets?: string[];
  serviceAccountName?: string;
  imagePullPolicy?: "Always" | "IfNotPresent" | "Never";
}

/** A one-container Pod (container "app") running `image`, non-root, nothing else. */
export function podBody(name: string, image: string, opts: PodSpecOptions = {}): V1Pod {
  return {
    metadata: { name, labels: { app: name } },
    spec: {
      ...(opts.imagePullSecrets ? { imagePullSecrets: opts.imagePullSecrets.map((n) => ({ name: n })) } : {}),
      ...(opts.serviceAccountName ? { serviceAccountName: opts.serviceAccountName } : {}),
      automountServiceAccountToken: false,
      terminationGracePeriodSeconds: 0,
      containers: [
        {
          name: "app",
          image,
          ...(opts.imagePullPolicy ? { imagePullPolicy: opts.imagePullPolicy } : {}),
          securityContext: {
            runAsNonRoot: true,
            allowPrivilegeEscalation: false,
            capabilities: { drop: ["ALL"] },
          },
        },
      ],
    },
  };
}

export async function createPod(kc: KubeConfig, namespace: string, body: V1Pod): Promise<V1Pod> {
  return kc.makeApiClient(CoreV1Api).createNamespacedPod({ namespace, body });
}

export async function podEvents(kc: KubeConfig, namespace: string, pod: string): Promise<CoreV1Event[]> {
  const list = await kc.makeApiClient(CoreV1Api).listNamespacedEvent({
    namespace,
    fieldSelector: `involvedObject.kind=Pod,involvedObject.name=${pod}`,
  });
  return list.items;
}

/** What a Pod's events and status say, for assertion messages. */
async function describe(kc: KubeConfig, namespace: string, name: string): Promise<string> {
  const pod = await kc.makeApiClient(CoreV1Api).readNamespacedPod({ namespace, name });
  const events = await podEvents(kc, namespace, name);
  return JSON.stringify(
    {
      phase: pod.status?.phase,
      conditions: pod.status?.conditions?.map(
        (c) => `${c.type}=${c.status} ${c.reason ?? ""} ${c.message ?? ""}`,
      ),
      containerStatuses: pod.status?.containerStatuses?.map((s) => s.state),
      events: events.map((e) => `${e.reason}: ${e.message}`),
    },
    null,
    2,
  );
}

async function poll<T>(
  what: string,
  kc: KubeConfig,
  namespace: string,
  name: string,
  check: (pod: V1Pod) => Promise<T | undefined>,
  timeoutMs: number,
): Promise<T> {
  const core = kc.makeApiClient(CoreV1Api);
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const pod = await core.readNamespacedPod({ namespace, name });
    const got = await check(pod);
    if (got !== undefined) return got;
    if (Date.now() > deadline) {
      throw new Error(
        `pod ${namespace}/${name} did not ${what} in ${timeoutMs} ms: ${await describe(kc, namespace, name)}`,
      );
    }
    await new Promise((r) => setTimeout(r, 250));
  }
}

/** Waits until the Pod's container runs (and is Ready); returns the Pod. */
export function waitRunning(
  kc: KubeConfig,
  namespace: string,
  name: string,
  timeoutMs = 60_000,
): Promise<V1Pod> {
  return poll(
    "run",
    kc,
    namespace,
    name,
    async (pod) =>
      pod.status?.phase === "Running" && pod.status.containerStatuses?.every((s) => s.ready)
        ? pod
        : undefined,
    timeoutMs,
  );
}

export interface PullFailure {
  /** containerStatuses[0].state.waiting.reason: ErrImagePull or ImagePullBackOff. */
  reason: string;
  message: string;
  /** The kubelet's Warning events' messages (reason Failed). */
  failedEvents: string[];
}

/** Waits until the kubelet reports a failed pull (ErrImagePull/ImagePullBackOff plus a Failed event). */
export function waitPullFailure(
  kc: KubeConfig,
  namespace: string,
  name: string,
  timeoutMs = 60_000,
): Promise<PullFailure> {
  return poll(
    "fail to pull",
    kc,
    namespace,
    name,
    async (pod) => {
      const waiting = pod.status?.containerStatuses?.[0]?.state?.waiting;
      if (!waiting || !["ErrImagePull", "ImagePullBackOff"].includes(waiting.reason ?? "")) return undefined;
      const failedEvents = (await podEvents(kc, namespace, name))
        .filter((e) => e.reason === "Failed" && e.type === "Warning" && e.source?.component === "kubelet")
        .map((e) => e.message ?? "");
      if (!failedEvents.some((m) => m.startsWith("Failed to pull image"))) return undefined;
      return { reason: waiting.reason!, message: waiting.message ?? "", failedEvents };
    },
    timeoutMs,
  );
}

/** The kubelet's `Pulled` event message for the Pod's image (undefined if it did not pull). */
export async function pulledMessage(
  kc: KubeConfig,
  namespace: string,
  name: string,
): Promise<string | undefined> {
  return (await podEvents(kc, namespace, name)).find((e) => e.reason === "Pulled")?.message;
}
