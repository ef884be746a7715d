import * as z from "./zod.ts";

/**
 * Where a secret value comes from. Never the value itself: config files live in ConfigMaps and
 * git, so secret material is always a reference to a mounted file or an environment variable.
 */
export const secretRef = z.union(
  [
    z.strictObject({ file: z.string().check(z.minLength(1, "expected a file path")) }),
    z.strictObject({
      env: z.string().check(z.regex(/^[A-Za-z_][A-Za-z0-9_]*$/, "expected an environment variable name")),
    }),
  ],
  { error: "expected { file: PATH } or { env: NAME }" },
);

export type SecretRef = z.infer<typeof secretRef>;

export function describeRef(ref: SecretRef): string {
  return "file" in ref ? `file ${ref.file}` : `environment variable ${ref.env}`;
}
