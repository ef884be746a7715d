import type { KubeConfig, V1Secret } from "@kubernetes/client-node";
import type { Logger } from "pino";
import { LABEL_INSTANCE, LABEL_MANAGED_BY, LABEL_TARGET, type DesiredSecret } from "../../engine/plan.ts";
import { secretManifest, type SecretManifest } from "../../output/manifest.ts";
import { withRetry } from "../client.ts";
import { RawClient, type SerializedJson } from "../raw.ts";
import { FIELD_MANAGER, desiredContent } from "./compare.ts";
import { secretPath } from "./paths.ts";
import { secretRequestBody } from "./request-body.ts";
import { METADATA_ONLY, type SecretStore } from "./store.ts";

/** The manager of the create request, which carries only fields no regcred Secret ever loses. */
export const CREATE_MANAGER = "regcred-create";

/**
 * The three writes regcred makes to a Secret, each with a precondition that keeps it from
 * touching a Secret it did not see: create (POST, 409 if one appeared meanwhile), apply (the
 * UID seen), delete (the UID seen). What the API server answers (metadata only: the store
 * knows what was sent) goes into the store.
 *
 * Server-side apply cannot create without the risk of clobbering: it has no create-only
 * precondition (a `metadata.uid` in an apply body is a precondition on an existing object, but
 * makes the API server refuse to create one, and a look at the watch cache before an apply is
 * a race with whoever creates the same name in between). So a new Secret takes two writes: a
 * POST carrying only what no regcred Secret ever drops (type, data, the identity labels) under
 * its own field manager; then at once an apply of the whole object, which owns every field
 * regcred sets (so a label or annotation taken out of the config is removed by the next apply).
 */
export class SecretWriter {
  /** Writes go through the raw client: see raw.ts for why. */
  private readonly raw: RawClient;

  constructor(
    kc: KubeConfig,
    private readonly log: Logger,
    private readonly store: SecretStore,
  ) {
    this.raw = new RawClient(kc);
  }

  /** POSTs the Secret; a 409 (someone created it since the cache looked) is thrown to the caller. */
  create(secret: DesiredSecret): Promise<V1Secret> {
    return this.write(
      secret,
      "create",
      "POST",
      `/api/v1/namespaces/${encodeURIComponent(secret.namespace)}/secrets?fieldManager=${CREATE_MANAGER}`,
      secretRequestBody(creationManifest(secret), secret.body),
    );
  }

  /** Applies the whole Secret over `seen`, and only over it: its UID is the precondition. */
  async apply(secret: DesiredSecret, seen: V1Secret): Promise<void> {
    const manifest = secretManifest(secret);
    const body = { ...manifest, metadata: { ...manifest.metadata, uid: seen.metadata!.uid! } };
    await this.write(
      secret,
      "apply",
      "PATCH",
      `${secretPath(secret.namespace, secret.name)}?fieldManager=${FIELD_MANAGER}&force=true`,
      secretRequestBody(body, secret.body),
      // JSON is YAML: server-side apply takes it as is.
      "application/apply-patch+yaml",
    );
  }

  /** One write that leaves the desired content, retried, its metadata-only answer to the store. */
  private write(
    secret: DesiredSecret,
    verb: "create" | "apply",
    method: "POST" | "PATCH",
    path: string,
    body: SerializedJson,
    contentType?: string,
  ): Promise<V1Secret> {
    return this.store.write(secret.namespace, secret.name, desiredContent(secret), () =>
      withRetry(
        `${verb} Secret ${secret.namespace}/${secret.name}`,
        () =>
          this.raw.call<V1Secret>(method, path, body, {
            accept: METADATA_ONLY,
            ...(contentType ? { contentType } : {}),
          }),
        { log: this.log },
      ),
    );
  }

  /** Deletes the Secret if it is still the one with that UID. */
  async remove(namespace: string, name: string, uid: string): Promise<void> {
    await this.raw.call(
      "DELETE",
      secretPath(namespace, name),
      { preconditions: { uid } },
      { accept: METADATA_ONLY },
    );
    this.store.forget(namespace, name);
  }

  /** Reads the Secret from the API server (after a 409 on create: who made it?). */
  async read(namespace: string, name: string): Promise<V1Secret> {
    return this.store.read(await this.raw.call<V1Secret>("GET", secretPath(namespace, name)));
  }
}

/**
 * What the create request carries: only what every regcred Secret keeps for its whole life
 * (type, data, the identity labels), so the create's field manager never holds on to a field
 * regcred may later drop. The apply right after adds the rest and owns all of it.
 */
function creationManifest(secret: DesiredSecret): SecretManifest {
  const manifest = secretManifest(secret);
  const labels: Record<string, string> = {};
  for (const k of [LABEL_MANAGED_BY, LABEL_INSTANCE, LABEL_TARGET]) {
    const v = manifest.metadata.labels[k];
    if (v !== undefined) labels[k] = v;
  }
  return { ...manifest, metadata: { ...manifest.metadata, labels, annotations: {} } };
}
