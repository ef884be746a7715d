import { createLogger } from "../../src/observe/log.ts";
import type { Logger } from "pino";

/** A real pino logger (with the redaction hook) writing into an array, for assertions. */
export function captureLogger(level: "debug" | "info" = "debug"): {
  log: Logger;
  lines: string[];
  records: () => Array<Record<string, unknown>>;
} {
  const lines: string[] = [];
  const log = createLogger({ level, destination: { write: (s: string) => lines.push(s) } as never });
  return { log, lines, records: () => lines.map((l) => JSON.parse(l) as Record<string, unknown>) };
}
