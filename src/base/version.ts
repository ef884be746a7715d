import { existsSync, readFileSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";

/** The package version, found by walking up from this file (src/ under tsx, dist/src/ when built). */
export function version(): string {
  let dir = path.dirname(fileURLToPath(import.meta.url));
  for (let i = 0; i < 4; i++) {
    const file = path.join(dir, "package.json");
    if (existsSync(file)) {
      const pkg = JSON.parse(readFileSync(file, "utf8")) as { name?: string; version?: string };
      if (pkg.name === "regcred" && pkg.version) return pkg.version;
    }
    dir = path.dirname(dir);
  }
  return "0.0.0-unknown";
}

/** How regcred names itself in User-Agent headers (to the API server, GitHub, IBM IAM). */
export function userAgent(): string {
  return `regcred/${version()}`;
}
