import { createHash } from "node:crypto";
import type { Credential } from "../../providers/contract.ts";
import type { Target } from "../config/schema.ts";
import { compileGlobs, matchesSelector } from "../config/selector.ts";
import { renderDockerConfig, RenderError, type AuthEntry } from "./dockerconfig.ts";
import { earliestExpiry } from "./schedule.ts";
import {
  SECRET_TYPE,
  LABEL_MANAGED_BY,
  LABEL_TARGET,
  LABEL_INSTANCE,
  DEFAULT_INSTANCE,
  ANNOTATION_EXPIRES,
  ANNOTATION_HASH,
  ANNOTATION_REGISTRIES,
  ANNOTATION_CREDENTIALS,
} from "../base/labels.ts";

// The names regcred writes onto Secrets live in a leaf (config and providers read them too);
// the plan stays where its consumers import them from.
export * from "../base/labels.ts";

export interface WrittenCredential {
  keys: string[];
  expiresAt: string | null;
}

export interface Namespace {
  name: string;
  labels: Record<string, string>;
}

/** What one target's Secret holds, the same in every namespace. Computed once per target. */
export interface TargetBody {
  target: Target;
  dockerconfigjson: string;
  /** The Secret's `data` value: base64 of dockerconfigjson, encoded once for every namespace. */
  data: string;
  /** Registry names whose credentials are in the body. */
  registries: string[];
  /** Registry names the target lists that have no usable credential right now. */
  missing: string[];
  expiresAt: Date | null;
  hash: string;
  labels: Readonly<Record<string, string>>;
  annotations: Readonly<Record<string, string>>;
}

export interface DesiredSecret {
  namespace: string;
  name: string;
  type: typeof SECRET_TYPE;
  body: TargetBody;
}

export interface PlanProblem {
  target: string;
  message: string;
}

export interface Plan {
  secrets: DesiredSecret[];
  bodies: TargetBody[];
  /** Targets that produced no Secret (nothing usable, or too large): existing ones stay as they are. */
  problems: PlanProblem[];
}

/** Usable credentials per registry name; a registry without one is absent. */
export type CredentialSet = ReadonlyMap<string, readonly Credential[]>;

export function targetBody(
  target: Target,
  credentials: CredentialSet,
  instance: string = DEFAULT_INSTANCE,
): TargetBody | PlanProblem {
  const entries: AuthEntry[] = [];
  const present: string[] = [];
  const missing: string[] = [];
  const expiries: Array<Date | null> = [];
  for (const registry of target.registries) {
    const creds = credentials.get(registry);
    if (!creds || creds.length === 0) {
      missing.push(registry);
      continue;
    }
    present.push(registry);
    for (const cred of creds) {
      expiries.push(cred.expiresAt);
      for (const key of cred.registries) {
        entries.push({ key, username: cred.username, password: cred.password, source: registry });
      }
    }
  }
  if (present.length === 0) {
    return { target: target.name, message: `no usable credential from any of: ${missing.join(", ")}` };
  }
  let json: string;
  try {
    json = renderDockerConfig(entries).json;
  } catch (err) {
    if (err instanceof RenderError) return { target: target.name, message: err.message };
    throw err;
  }
  const expiresAt = earliestExpiry(expiries);
  const written: Record<string, WrittenCredential> = {};
  const owner = new Map<string, string>();
  for (const e of entries) if (!owner.has(e.key)) owner.set(e.key, e.source);
  for (const registry of present) {
    // Only keys the body holds from this registry: a shadowed key carries another's credential.
    const keys = [...owner].filter(([, source]) => source === registry).map(([key]) => key);
    const expiry = earliestExpiry(credentials.get(registry)!.map((c) => c.expiresAt));
    if (keys.length > 0) written[registry] = { keys: keys.sort(), expiresAt: expiry?.toISOString() ?? null };
  }
  const hash = createHash("sha256").update(json).digest("hex").slice(0, 16);
  const annotations: Record<string, string> = {
    ...target.annotations,
    [ANNOTATION_HASH]: hash,
    [ANNOTATION_REGISTRIES]: present.join(","),
    [ANNOTATION_CREDENTIALS]: JSON.stringify(written),
  };
  if (expiresAt) annotations[ANNOTATION_EXPIRES] = expiresAt.toISOString();
  return {
    target,
    dockerconfigjson: json,
    data: Buffer.from(json).toString("base64"),
    registries: present,
    missing,
    expiresAt,
    hash,
    labels: Object.freeze({
      ...target.labels,
      [LABEL_MANAGED_BY]: "regcred",
      [LABEL_INSTANCE]: instance,
      [LABEL_TARGET]: target.name,
    }),
    annotations: Object.freeze(annotations),
  };
}

// A target's matcher is compiled once: compiling its globs cost more than the rest of planning
// a one-namespace pass (bench:fanout's profile of the new-namespace phase). A parsed Target is
// never changed, and a new config is new objects, so the object is the key.
const matchers = new WeakMap<Target, (ns: Namespace) => boolean>();

/** Whether a namespace is one the target writes into: include/exclude globs and label selector. */
export function namespaceMatcher(target: Target): (ns: Namespace) => boolean {
  let matches = matchers.get(target);
  if (!matches) {
    const included = compileGlobs(target.namespaces.include);
    const excluded = compileGlobs(target.namespaces.exclude);
    const selector = target.namespaces.selector;
    matches = (ns) => included(ns.name) && !excluded(ns.name) && matchesSelector(selector, ns.labels);
    matchers.set(target, matches);
  }
  return matches;
}

export interface PlanOptions {
  /**
   * Render every target into every given namespace, skipping selection: for `render` and the
   * directory sink, where namespaces are named on the command line and have no labels.
   */
  ignoreSelection?: boolean;
  /** The installation's name, written as a label (config kubernetes.instance). */
  instance?: string;
}

/** A pure function: (credentials, targets, namespaces) -> the Secrets the cluster should hold. */
export function plan(
  targets: readonly Target[],
  credentials: CredentialSet,
  namespaces: readonly Namespace[],
  options: PlanOptions = {},
): Plan {
  return planFrom(
    targets.map((t) => targetBody(t, credentials, options.instance)),
    namespaces,
    options,
  );
}

/** The plan from bodies already rendered (one per target, or why there is none). */
export function planFrom(
  rendered: ReadonlyArray<TargetBody | PlanProblem>,
  namespaces: readonly Namespace[],
  options: PlanOptions = {},
): Plan {
  const secrets: DesiredSecret[] = [];
  const bodies: TargetBody[] = [];
  const problems: PlanProblem[] = [];
  for (const body of rendered) {
    if (!("dockerconfigjson" in body)) {
      problems.push(body);
      continue;
    }
    bodies.push(body);
    const matches = options.ignoreSelection ? () => true : namespaceMatcher(body.target);
    for (const ns of namespaces) {
      if (matches(ns)) secrets.push({ namespace: ns.name, name: body.target.name, type: SECRET_TYPE, body });
    }
  }
  return { secrets, bodies, problems };
}

/**
 * Renders each target's body once per set of credentials: a plan for one namespace (a
 * namespace event) reuses the bodies of the last one while no credential has changed, so
 * its cost does not include rendering, hashing and encoding every target again. A credential
 * is the same while the refresher holds the same array for its registry.
 */
export class BodyCache {
  private readonly cache = new Map<
    Target,
    { inputs: Array<readonly Credential[] | undefined>; body: TargetBody | PlanProblem }
  >();

  bodies(
    targets: readonly Target[],
    credentials: CredentialSet,
    instance?: string,
  ): Array<TargetBody | PlanProblem> {
    return targets.map((target) => {
      const inputs = target.registries.map((r) => credentials.get(r));
      const hit = this.cache.get(target);
      if (hit && hit.inputs.every((c, i) => c === inputs[i])) return hit.body;
      const body = targetBody(target, credentials, instance);
      this.cache.set(target, { inputs, body });
      return body;
    });
  }
}
