import * as z from "../base/zod.ts";
import { Minimatch } from "minimatch";
import { labelKey, labelMap, labelValue } from "./kube-names.ts";

const requirement = z
  .strictObject({
    key: labelKey,
    operator: z.enum(["In", "NotIn", "Exists", "DoesNotExist"]),
    values: z.optional(z.array(labelValue)),
  })
  .check(
    z.superRefine((req, ctx) => {
      const needsValues = req.operator === "In" || req.operator === "NotIn";
      if (needsValues && (!req.values || req.values.length === 0)) {
        ctx.addIssue({ code: "custom", path: ["values"], message: `operator ${req.operator} needs values` });
      }
      if (!needsValues && req.values && req.values.length > 0) {
        ctx.addIssue({
          code: "custom",
          path: ["values"],
          message: `operator ${req.operator} takes no values`,
        });
      }
    }),
  );

/** A Kubernetes LabelSelector, validated as the API server would. */
export const labelSelector = z.strictObject({
  matchLabels: z.optional(labelMap),
  matchExpressions: z.optional(z.array(requirement)),
});
export type LabelSelector = z.infer<typeof labelSelector>;

export function matchesSelector(
  selector: LabelSelector | undefined,
  labels: Record<string, string>,
): boolean {
  if (!selector) return true;
  for (const [key, value] of Object.entries(selector.matchLabels ?? {})) {
    if (labels[key] !== value) return false;
  }
  for (const req of selector.matchExpressions ?? []) {
    const has = Object.hasOwn(labels, req.key);
    const value = labels[req.key];
    switch (req.operator) {
      case "In":
        if (!has || !req.values!.includes(value!)) return false;
        break;
      case "NotIn":
        if (has && req.values!.includes(value!)) return false;
        break;
      case "Exists":
        if (!has) return false;
        break;
      case "DoesNotExist":
        if (has) return false;
        break;
    }
  }
  return true;
}

/** Renders a selector as the API server's `labelSelector` query string. */
export function selectorToString(selector: LabelSelector | undefined): string {
  if (!selector) return "";
  const parts = Object.entries(selector.matchLabels ?? {}).map(([k, v]) => `${k}=${v}`);
  for (const req of selector.matchExpressions ?? []) {
    if (req.operator === "In") parts.push(`${req.key} in (${req.values!.join(",")})`);
    else if (req.operator === "NotIn") parts.push(`${req.key} notin (${req.values!.join(",")})`);
    else if (req.operator === "Exists") parts.push(req.key);
    else parts.push(`!${req.key}`);
  }
  return parts.join(",");
}

// Namespace names are DNS labels, so a glob may use only those characters plus * ? [ ] ! -.
const GLOB_CHARS = /^[a-z0-9*?[\]!-]+$/;

/** A namespace-name glob ("team-*", "kube-?"), compiled once so a bad pattern fails at load. */
export const namespaceGlob = z.string().check(
  z.superRefine((pattern, ctx) => {
    // minimatch reads a leading "!" as "every name but": in include it selects the whole cluster,
    // and then garbage collection deletes the target's Secrets everywhere the user meant to keep.
    if (pattern.startsWith("!")) {
      ctx.addIssue({
        code: "custom",
        message: `a leading "!" would invert the selection (every namespace except ${JSON.stringify(pattern.slice(1))}); list it under exclude instead`,
      });
      return;
    }
    if (!GLOB_CHARS.test(pattern)) {
      ctx.addIssue({
        code: "custom",
        message: `expected a namespace glob of [a-z0-9-] with * ? [...], got ${JSON.stringify(pattern)}`,
      });
      return;
    }
    if (unbalancedBrackets(pattern)) {
      ctx.addIssue({ code: "custom", message: `expected a valid glob, got ${JSON.stringify(pattern)}` });
    }
  }),
);

function unbalancedBrackets(pattern: string): boolean {
  let depth = 0;
  for (const ch of pattern) {
    if (ch === "[") depth++;
    else if (ch === "]") depth--;
    if (depth < 0 || depth > 1) return true;
  }
  return depth !== 0;
}

// Plain globs only, whatever slipped past the schema: no negation, comments, braces or extglobs.
const GLOB_OPTIONS = { nonegate: true, nocomment: true, nobrace: true, noext: true } as const;

export function compileGlobs(patterns: readonly string[]): (name: string) => boolean {
  const matchers = patterns.map((p) => new Minimatch(p, GLOB_OPTIONS));
  return (name) => matchers.some((m) => m.match(name));
}
