import * as z from "zod/mini";
import { exactlyOne, registryEntry, registryKey, secretRef, forbiddenInline } from "../kit.ts";

export const staticSchema = registryEntry("static", {
  /** Auth keys to write the credential under, e.g. docker.io, us.icr.io, quay.io, registry.local:5000. */
  registries: z.array(registryKey).check(z.minLength(1, "expected at least one registry host")),
  username: z.optional(z.string().check(z.minLength(1))),
  usernameFrom: z.optional(secretRef),
  passwordFrom: secretRef,
  password: forbiddenInline("passwordFrom"),
  /** A known expiry (e.g. a token's end date), so the expiry metric and alert cover it. */
  expiresAt: z.optional(
    z.iso.datetime({ offset: true, error: "expected an RFC 3339 timestamp such as 2027-01-31T00:00:00Z" }),
  ),
}).check(z.superRefine((entry, ctx) => exactlyOne(entry, ctx, "username", "usernameFrom")));

export type StaticSettings = z.infer<typeof staticSchema>;
