import * as z from "../base/zod.ts";

/**
 * Kubernetes' own rules for names, label and annotation keys and values
 * (k8s.io/apimachinery/pkg/util/validation and pkg/api/validation), so that a value the API
 * server would refuse on every write is a config error at load instead of a silent failure.
 */
const DNS1123_LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;
const DNS1123_SUBDOMAIN = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;
const QUALIFIED_NAME = /^([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]$/;
const LABEL_VALUE = /^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$/;
/** The API server's limit on the sum of annotation keys and values (TotalAnnotationSizeLimitB). */
export const MAX_ANNOTATION_BYTES = 256 * 1024;

export function isDnsLabel(s: string): boolean {
  return s.length <= 63 && DNS1123_LABEL.test(s);
}

export function isDnsSubdomain(s: string): boolean {
  return s.length <= 253 && DNS1123_SUBDOMAIN.test(s);
}

/** IsQualifiedName: [prefix/]name, prefix a DNS subdomain, name up to 63 of [A-Za-z0-9-_.]. */
export function isQualifiedName(key: string): boolean {
  const parts = key.split("/");
  if (parts.length > 2) return false;
  const name = parts.at(-1)!;
  if (parts.length === 2 && !isDnsSubdomain(parts[0]!)) return false;
  return name.length <= 63 && QUALIFIED_NAME.test(name);
}

export function isLabelValue(s: string): boolean {
  return s.length <= 63 && LABEL_VALUE.test(s);
}

const QUALIFIED =
  "optional DNS-subdomain prefix and /, then 1-63 of [A-Za-z0-9-_.] starting and ending alphanumeric";

export const labelKey = z
  .string()
  .check(z.refine(isQualifiedName, { message: `expected a label key (${QUALIFIED})` }));
// The API server lowercases annotation keys before the check, so "Example.com/x" is allowed.
export const annotationKey = z.string().check(
  z.refine((k) => isQualifiedName(k.toLowerCase()), {
    message: `expected an annotation key (${QUALIFIED})`,
  }),
);
export const labelValue = z.string().check(
  z.refine(isLabelValue, {
    message: "expected a label value (up to 63 of [A-Za-z0-9-_.], starting and ending alphanumeric)",
  }),
);

export const labelMap = z.record(labelKey, labelValue);
export const annotationMap = z.record(annotationKey, z.string()).check(
  z.superRefine((annotations, ctx) => {
    let bytes = 0;
    for (const [k, v] of Object.entries(annotations)) bytes += Buffer.byteLength(k) + Buffer.byteLength(v);
    if (bytes > MAX_ANNOTATION_BYTES)
      ctx.addIssue({
        code: "custom",
        message: `annotations total ${bytes} bytes; the API server allows ${MAX_ANNOTATION_BYTES}`,
      });
  }),
);

export const dnsLabel = (what: string) =>
  z.string().check(
    z.refine(isDnsLabel, {
      message: `expected ${what} (a lowercase DNS label: up to 63 of [a-z0-9-], starting and ending alphanumeric)`,
    }),
  );

export const dnsSubdomain = (what: string) =>
  z.string().check(
    z.refine(isDnsSubdomain, {
      message: `expected ${what} (a lowercase DNS subdomain: up to 253 of [a-z0-9-.], each part starting and ending alphanumeric)`,
    }),
  );
