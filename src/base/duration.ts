import * as z from "./zod.ts";

const UNIT_MS: Record<string, number> = { ms: 1, s: 1_000, m: 60_000, h: 3_600_000, d: 86_400_000 };
const DURATION = /^(?:(\d+(?:\.\d+)?)(ms|s|m|h|d))+$/;
const PART = /(\d+(?:\.\d+)?)(ms|s|m|h|d)/g;

/** Parses Go-style durations ("90s", "1h30m", "500ms") into milliseconds; undefined if malformed. */
export function parseDuration(text: string): number | undefined {
  const trimmed = text.trim();
  if (!DURATION.test(trimmed)) return undefined;
  let total = 0;
  for (const [, amount, unit] of trimmed.matchAll(PART)) total += Number(amount) * UNIT_MS[unit!]!;
  return total;
}

export function formatDuration(ms: number): string {
  if (ms < 1_000) return `${Math.round(ms)}ms`;
  const parts: string[] = [];
  let rest = Math.round(ms / 1_000);
  for (const [unit, size] of [
    ["h", 3_600],
    ["m", 60],
    ["s", 1],
  ] as const) {
    if (rest >= size) {
      parts.push(`${Math.floor(rest / size)}${unit}`);
      rest %= size;
    }
  }
  return parts.join("");
}

const EXAMPLE = 'expected a duration such as "30s", "5m" or "1h30m"';

/** A config duration: a string such as "5m" or "1h30m", held as milliseconds. */
export const duration = z.pipe(
  z.string({
    // A bare number (`initial: 0`) has no unit: say what is wanted, not just "expected string".
    error: (issue) =>
      issue.input === undefined ? undefined : `${EXAMPLE}, got ${JSON.stringify(issue.input)}`,
  }),
  z.transform((text: string, ctx) => {
    const ms = parseDuration(text);
    if (ms === undefined) {
      ctx.issues.push({ code: "custom", message: `${EXAMPLE}, got ${JSON.stringify(text)}`, input: text });
      return z.NEVER;
    }
    return ms;
  }),
);

/** setTimeout's limit: a longer delay fires at once (Node warns and uses 1 ms), a hot loop. */
export const TIMER_LIMIT_MS = 2 ** 31 - 1;

/**
 * A duration that ends up in a timer: at least `min` (a zero wait is a hot loop, a zero timeout
 * fails every attempt) and at most what setTimeout can wait.
 */
export function timerDuration(min: number, tooShort: string) {
  return duration.check(
    z.refine((ms) => ms >= min, { message: `expected at least ${formatDuration(min)} (${tooShort})` }),
    z.refine((ms) => ms <= TIMER_LIMIT_MS, {
      message: `expected at most ${TIMER_LIMIT_MS}ms (about 24.8 days, the longest a Node.js timer can wait)`,
    }),
  );
}
