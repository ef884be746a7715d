import type { TargetBody } from "../../engine/plan.ts";
import type { SecretManifest } from "../../output/manifest.ts";
import { SerializedJson } from "../raw.ts";

/** Per desired body: its Secret `data` as JSON bytes, serialized once per rotation. */
const dataJson = new WeakMap<TargetBody, Buffer>();

/**
 * The request body of a Secret write: its metadata serialized per namespace, its data (tens of
 * KB, the same in every namespace) once per body and shared by every request. Serializing the
 * whole manifest each time made a fresh copy of the data per write; one in flight outlives a
 * young-generation collection, so at start (two writes per namespace) those copies piled up
 * in the old space, most of the daemon's peak (npm run bench:fanout).
 *
 * `manifest` is secretManifest() of a Secret of `body`, whose data comes from the body alone.
 */
export function secretRequestBody(manifest: SecretManifest, body: TargetBody): SerializedJson {
  let data = dataJson.get(body);
  if (!data) {
    data = Buffer.from(JSON.stringify(manifest.data));
    dataJson.set(body, data);
  }
  const { data: _data, ...rest } = manifest;
  // `rest` always has apiVersion, so its JSON ends with `}` after at least one member.
  const head = JSON.stringify(rest);
  return new SerializedJson([`${head.slice(0, -1)},"data":`, data, "}"]);
}
