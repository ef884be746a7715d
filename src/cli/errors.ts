/** A mistake in how regcred was invoked: exit code 2, like an invalid config. */
export class UsageError extends Error {
  override name = "UsageError";
}

export const EXIT = { ok: 0, failure: 1, usage: 2 } as const;
