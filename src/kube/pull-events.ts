/**
 * kubelet's pull failures, from the cheapest signal that carries them: core/v1 Events, watched
 * cluster-wide with field selectors that leave only kubelet's Warnings about Pods with reason
 * `Failed` (the message names the image and the registry's answer) or
 * `FailedToRetrieveImagePullSecret`. Kubelet v1.35 posts them through core/v1 (source.component
 * "kubelet"); events.k8s.io offers no `source` selector. Pods are not watched: one GET per
 * failing Pod is far cheaper than a cache of every Pod in the cluster.
 */
import type { CoreV1Event, KubeConfig, V1Pod } from "@kubernetes/client-node";
import type { Logger } from "pino";
import { KubeApi } from "./api.ts";
import { statusOf } from "./client.ts";
import { listInPages, watchedCache, type WatchedCache } from "./informer.ts";
import type { PodRef, PodView, PullSignal } from "../engine/pull-reactions.ts";
import type { EventRecorder } from "./events.ts";

export const PULL_EVENT_SELECTORS = [
  "involvedObject.kind=Pod,source=kubelet,type=Warning,reason=Failed",
  "involvedObject.kind=Pod,source=kubelet,type=Warning,reason=FailedToRetrieveImagePullSecret",
];

/** Events last seen longer ago than this (a new leader's first list) are history, not news. */
const MAX_AGE_MS = 2 * 60_000;

export interface PullEventWatch {
  synced(): Promise<void>;
  stop(): Promise<void>;
}

/** When kubelet last saw it happen: aggregated Events carry a count and a newer lastTimestamp. */
export function lastSeen(e: CoreV1Event): number {
  const t =
    e.series?.lastObservedTime ??
    e.lastTimestamp ??
    e.eventTime ??
    e.firstTimestamp ??
    e.metadata?.creationTimestamp;
  return t ? new Date(t as unknown as string).getTime() : 0;
}

export function watchPullEvents(
  kc: KubeConfig,
  log: Logger,
  onSignal: (signal: PullSignal) => void,
  now: () => number = Date.now,
): PullEventWatch {
  const api = new KubeApi(kc);
  const caches: Array<WatchedCache<CoreV1Event>> = PULL_EVENT_SELECTORS.map((fieldSelector) =>
    watchedCache<CoreV1Event>(
      kc,
      `events (${fieldSelector.split("reason=")[1]})`,
      "/api/v1/events",
      () => listInPages((cont) => api.listCoreEvents({ fieldSelector, limit: 500, continue: cont })),
      { log, fieldSelector },
    ),
  );
  for (const cache of caches) {
    cache.onEvent((type, e) => {
      if (type === "delete" || now() - lastSeen(e) > MAX_AGE_MS) return;
      const o = e.involvedObject;
      if (!o?.namespace || !o.name) return;
      onSignal({
        namespace: o.namespace,
        pod: o.name,
        ...(o.uid ? { uid: o.uid } : {}),
        ...(e.type ? { type: e.type } : {}),
        ...(e.reason ? { reason: e.reason } : {}),
        ...(e.message ? { message: e.message } : {}),
      });
    });
  }
  return {
    synced: async () => void (await Promise.all(caches.map((c) => c.synced()))),
    stop: async () => void (await Promise.all(caches.map((c) => c.stop()))),
  };
}

export function podView(pod: V1Pod): PodView {
  const owner = pod.metadata?.ownerReferences?.find((r) => r.controller === true);
  return {
    uid: pod.metadata?.uid ?? "",
    serviceAccount: pod.spec?.serviceAccountName || "default",
    pullSecrets: (pod.spec?.imagePullSecrets ?? []).map((r) => r.name ?? "").filter(Boolean),
    controller: owner ? { kind: owner.kind, name: owner.name } : null,
    deleting: Boolean(pod.metadata?.deletionTimestamp),
  };
}

/** The Kubernetes half of the reactor's ports: Pods, ServiceAccounts, Events. */
export function kubePullPorts(kc: KubeConfig, events: EventRecorder | undefined) {
  const api = new KubeApi(kc);
  const orNull = async <T>(p: Promise<T>): Promise<T | null> => {
    try {
      return await p;
    } catch (err) {
      if (statusOf(err) === 404) return null;
      throw err;
    }
  };
  return {
    async readPod(namespace: string, name: string): Promise<PodView | null> {
      const pod = await orNull(api.readPod(namespace, name));
      return pod ? podView(pod) : null;
    },
    async serviceAccountSecrets(namespace: string, name: string): Promise<string[] | null> {
      const sa = await orNull(api.readServiceAccount(namespace, name));
      return sa ? (sa.imagePullSecrets ?? []).map((r) => r.name ?? "").filter(Boolean) : null;
    },
    async deletePod(pod: PodRef): Promise<boolean> {
      try {
        // The UID precondition: a namesake created meanwhile (StatefulSet) is never deleted.
        await api.deletePod(pod.namespace, pod.name, pod.uid);
        return true;
      } catch (err) {
        const status = statusOf(err);
        if (status === 404 || status === 409) return false;
        throw err;
      }
    },
    event(pod: PodRef, type: "Normal" | "Warning", reason: string, message: string): void {
      const ref = { kind: "Pod", apiVersion: "v1", ...pod };
      if (type === "Normal") events?.normal(ref, reason, message);
      else events?.warning(ref, reason, message);
    },
  };
}
