/**
 * The one door from providers/ into the rest of regcred: a provider imports its contract from
 * ./contract.ts, everything else it may use of regcred from here, and nothing from src/ directly
 * (the dependency check in .dependency-cruiser.cjs enforces it). What comes through is the
 * ground floor (src/base/, which imports nothing of regcred), so providers never reach back
 * into config, the engine or the writers.
 */

// Config building blocks: the fields every registries[] entry has, secret references, durations.
export { registryEntry, registryKey, resourceName } from "../src/base/registry-entry.ts";
export { secretRef, describeRef } from "../src/base/secret-ref.ts";
export { forbiddenInline } from "../src/base/inline-secret.ts";
export { exactlyOne } from "../src/base/exactly-one.ts";
export { duration, formatDuration } from "../src/base/duration.ts";
export { normalizeRegistryKey, DOCKER_HUB_KEY } from "../src/base/registry-key.ts";

// Secrets never leave: every token is registered with the redactor the moment it exists.
export { registerSecret, registerAuth } from "../src/base/redact.ts";

// What regcred stamps on its own Secrets (the mirror refuses to copy them).
export { SECRET_TYPE, LABEL_MANAGED_BY, ANNOTATION_EXPIRES } from "../src/base/labels.ts";

export { userAgent, version } from "../src/base/version.ts";

// A mint must honour its signal, also around a library call that takes none.
export { abortable } from "../src/base/abortable.ts";

// Failures: one mapping of statuses, timeouts and transport errors; redaction-safe messages.
export {
  reasonFor,
  statusReason,
  isTimeout,
  isAbort,
  oneLine,
  parseJson,
  parseAnswer,
  invalidResponse,
  type ReasonTable,
  type UpstreamFailure,
} from "./failures.ts";
export { networkCode, isNetworkCode } from "./network.ts";

// What two or more providers would otherwise write twice.
export { baseUrl, isLoopbackHost, watchRefs } from "./common.ts";

// Schemas: providers import zod/mini themselves (a namespace passed through here would keep all
// of zod in the bundle); the English messages come with the building blocks above, which load
// src/base/zod.ts before any provider schema exists.
