import { pino, type Logger, type LevelWithSilent, type DestinationStream } from "pino";
import { redact } from "../base/redact.ts";

export type { Logger } from "pino";

export interface LogOptions {
  level?: LevelWithSilent;
  /** Where lines go; stderr by default so stdout stays clean for `render` output. */
  destination?: DestinationStream;
}

/**
 * JSON logs through pino. The streamWrite hook runs on the finished line, so the redactor sees
 * everything: messages, bound fields, serialized errors and their causes.
 */
export function createLogger(options: LogOptions = {}): Logger {
  return pino(
    {
      level: options.level ?? "info",
      base: { name: "regcred" },
      timestamp: pino.stdTimeFunctions.isoTime,
      formatters: { level: (label) => ({ level: label }) },
      hooks: { streamWrite: redact },
    },
    options.destination ?? pino.destination({ fd: 2, sync: true }),
  );
}
