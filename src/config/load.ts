import { readFile } from "node:fs/promises";
import { parseDocument } from "yaml";
import type * as z from "../base/zod.ts";
import { configSchema, toConfig, type Config } from "./schema.ts";

export interface ConfigProblem {
  /** e.g. registries[2].region, or "" for the document itself */
  path: string;
  message: string;
}

/** An invalid config: names the file, each path, and what was expected. Exit code 2. */
export class ConfigError extends Error {
  readonly file: string;
  readonly problems: ConfigProblem[];

  constructor(file: string, problems: ConfigProblem[]) {
    const lines = problems.map((p) => `  ${p.path || "(document)"}: ${p.message}`);
    super(`invalid config ${file}:\n${lines.join("\n")}`);
    this.name = "ConfigError";
    this.file = file;
    this.problems = problems;
  }
}

export function formatPath(path: readonly PropertyKey[]): string {
  let out = "";
  for (const part of path) {
    if (typeof part === "number") out += `[${part}]`;
    else if (!/^[A-Za-z_$][\w$]*$/.test(String(part))) out += `[${JSON.stringify(String(part))}]`;
    else out += out === "" ? String(part) : `.${String(part)}`;
  }
  return out;
}

function valueAt(root: unknown, path: readonly PropertyKey[]): unknown {
  let value = root;
  for (const key of path) {
    if (value === null || typeof value !== "object") return undefined;
    value = (value as Record<PropertyKey, unknown>)[key];
  }
  return value;
}

function describeIssue(issue: z.core.$ZodIssue, root: unknown): string {
  if (
    issue.code !== "unrecognized_keys" &&
    issue.code !== "custom" &&
    issue.path.length > 0 &&
    valueAt(root, issue.path) === undefined
  ) {
    return `missing; ${issue.message.replace(/^Invalid input: /, "").replace(/, received undefined$/, "")}`;
  }
  if (issue.code === "unrecognized_keys") {
    return `unknown key${issue.keys.length > 1 ? "s" : ""} ${issue.keys.map((k) => JSON.stringify(k)).join(", ")}`;
  }
  if (issue.code === "invalid_key" && issue.issues[0]) return `invalid key: ${issue.issues[0].message}`;
  // zod's default text starts "Invalid input: expected ..."; the path already says where.
  return issue.message.replace(/^Invalid (input|option): /, "");
}

export function parseConfig(file: string, text: string): Config {
  const doc = parseDocument(text, { prettyErrors: true, uniqueKeys: true });
  if (doc.errors.length > 0) {
    throw new ConfigError(
      file,
      doc.errors.map((e) => ({ path: "", message: `YAML: ${e.message.split("\n")[0]}` })),
    );
  }
  const raw: unknown = doc.toJS() ?? {};
  const result = configSchema.safeParse(raw);
  if (!result.success) {
    throw new ConfigError(
      file,
      result.error.issues.map((issue) => ({
        path: formatPath(issue.path),
        message: describeIssue(issue, raw),
      })),
    );
  }
  return toConfig(file, result.data);
}

export async function loadConfig(file: string): Promise<Config> {
  let text: string;
  try {
    text = await readFile(file, "utf8");
  } catch (err) {
    throw new ConfigError(file, [
      { path: "", message: `cannot read file: ${(err as NodeJS.ErrnoException).code}` },
    ]);
  }
  return parseConfig(file, text);
}
