import type { V1ManagedFieldsEntry, V1Secret } from "@kubernetes/client-node";
import { createHash } from "node:crypto";
import { LABEL_INSTANCE, LABEL_MANAGED_BY, type DesiredSecret } from "../../engine/plan.ts";

/** regcred's server-side apply field manager: every field it sets, it owns by apply. */
export const FIELD_MANAGER = "regcred";

const DIGESTED = Symbol("digested");
const OWNED = Symbol("owned by regcred's apply");
/** Per desired body: what writing it leaves (its digest computed once per rotation). */
const contents = new WeakMap<object, Content>();

interface Owned {
  readonly labels: readonly string[];
  readonly annotations: readonly string[];
}

/**
 * Keeps only what the writer compares: the data as digests, and of managedFields only which
 * label and annotation keys regcred's apply owns (to notice one it should remove). The watch
 * cache holds every same-named Secret in the cluster, and at 1,000 namespaces of ECR-sized
 * bodies the full objects were most of the daemon's memory. Mutates in place, as the cache
 * holds this very object.
 */
export function compact(secret: V1Secret): V1Secret {
  const managed = secret.metadata?.managedFields;
  if (managed) {
    Object.defineProperty(secret, OWNED, { value: ownedKeys(managed), configurable: true });
    secret.metadata!.managedFields = undefined;
  }
  // regcred's labels and annotations read the same on every Secret of a target (the registries,
  // their expiry, the content hash); one copy each instead of one per namespace.
  const meta = secret.metadata;
  if (meta?.labels) internValues(meta.labels);
  if (meta?.annotations) internValues(meta.annotations);
  if (secret.type) secret.type = intern(secret.type);
  // A whole Secret always has a type (the API server defaults it); a metadata-only one has
  // neither type nor data, and gets its content from the store (withContent).
  const data = secret.data;
  if (!(DIGESTED in secret) && (data || secret.type !== undefined)) {
    if (data) for (const [k, v] of Object.entries(data)) data[k] = intern(digest(v));
    Object.defineProperty(secret, DIGESTED, { value: true, configurable: true });
  }
  return secret;
}

/** Bounded: a target's values change with each rotation, so the pool is renewed when full. */
let pool = new Map<string, string>();
const POOL_MAX = 4_096;

function intern(value: string): string {
  const found = pool.get(value);
  if (found !== undefined) return found;
  if (pool.size >= POOL_MAX) pool = new Map();
  pool.set(value, value);
  return value;
}

function internValues(record: Record<string, string>): void {
  for (const [k, v] of Object.entries(record)) record[k] = intern(v);
}

/** The same few key sets on every Secret of a target: one shared, frozen copy of each. */
const ownedSets = new Map<string, Owned>();

function ownedKeys(entries: readonly V1ManagedFieldsEntry[]): Owned {
  const owned = collectOwned(entries);
  const signature = JSON.stringify(owned);
  const shared = ownedSets.get(signature);
  if (shared) return shared;
  if (ownedSets.size >= POOL_MAX) ownedSets.clear();
  const frozen = Object.freeze({
    labels: Object.freeze(owned.labels),
    annotations: Object.freeze(owned.annotations),
  });
  ownedSets.set(signature, frozen);
  return frozen;
}

function collectOwned(entries: readonly V1ManagedFieldsEntry[]): { labels: string[]; annotations: string[] } {
  const owned = { labels: [] as string[], annotations: [] as string[] };
  for (const e of entries) {
    if (e.manager !== FIELD_MANAGER || e.operation !== "Apply") continue;
    const meta = (e.fieldsV1 as Record<string, Record<string, object>> | undefined)?.["f:metadata"];
    for (const [field, into] of [
      ["f:labels", owned.labels],
      ["f:annotations", owned.annotations],
    ] as const) {
      for (const k of Object.keys((meta?.[field] ?? {}) as object))
        if (k.startsWith("f:")) into.push(k.slice(2));
    }
  }
  return owned;
}

/**
 * What the store keeps of a Secret besides its metadata: its type and its data as digests. A
 * metadata-only watch event or write response carries neither (see SecretStore).
 */
export interface Content {
  readonly type: string | undefined;
  readonly data: Readonly<Record<string, string>>;
}

/** Whether a compacted Secret has its content; a metadata-only one has not (yet). */
export function hasContent(secret: V1Secret): boolean {
  return DIGESTED in secret;
}

/** The content of a compacted Secret, or undefined if it came without any (metadata only). */
export function contentOf(secret: V1Secret): Content | undefined {
  return hasContent(secret) ? { type: secret.type, data: secret.data ?? {} } : undefined;
}

/** Gives a metadata-only Secret its content, already digested (shared, never mutated). */
export function withContent(secret: V1Secret, content: Content): V1Secret {
  if (content.type !== undefined) secret.type = content.type;
  secret.data = content.data as Record<string, string>;
  Object.defineProperty(secret, DIGESTED, { value: true, configurable: true });
  return secret;
}

/** What a write of this desired Secret leaves in the cluster's copy, as the store compares it. */
export function desiredContent(secret: DesiredSecret): Content {
  let c = contents.get(secret.body);
  if (!c) {
    // The type is the same for every desired Secret (SECRET_TYPE): the body decides the rest.
    c = Object.freeze({
      type: secret.type,
      data: Object.freeze({ ".dockerconfigjson": digest(secret.body.data) }),
    });
    contents.set(secret.body, c);
  }
  return c;
}

function digest(value: string): string {
  return `sha256:${createHash("sha256").update(value).digest("base64")}`;
}

/**
 * Whether the live Secret already holds exactly what regcred would write: its data, its labels
 * and annotations, and none that regcred applied before and wants no more.
 */
export function matches(live: V1Secret, secret: DesiredSecret): boolean {
  if (live.type !== secret.type) return false;
  if (compact(live).data?.[".dockerconfigjson"] !== desiredContent(secret).data[".dockerconfigjson"])
    return false;
  const labels = live.metadata?.labels ?? {};
  for (const [k, v] of Object.entries(secret.body.labels)) if (labels[k] !== v) return false;
  const annotations = live.metadata?.annotations ?? {};
  for (const [k, v] of Object.entries(secret.body.annotations)) if (annotations[k] !== v) return false;
  const owned = (live as { [OWNED]?: Owned })[OWNED];
  if (owned) {
    if (owned.labels.some((k) => !(k in secret.body.labels) && k in labels)) return false;
    if (owned.annotations.some((k) => !(k in secret.body.annotations) && k in annotations)) return false;
  }
  return true;
}

/** Whether a is a later version of the same object than b. */
export function newer(a: V1Secret, b: V1Secret): boolean {
  try {
    return BigInt(a.metadata?.resourceVersion ?? "0") > BigInt(b.metadata?.resourceVersion ?? "0");
  } catch {
    return true;
  }
}

/** Whether a Secret is this installation's own: its labels say regcred and this instance. */
export function ownedBy(instance: string): (s: V1Secret) => boolean {
  return (s) =>
    s.metadata?.labels?.[LABEL_MANAGED_BY] === "regcred" && s.metadata.labels[LABEL_INSTANCE] === instance;
}
