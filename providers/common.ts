// zod/mini straight from the package, as every provider imports it: see kit.ts.
import * as z from "zod/mini";
import type { SecretReader, SecretRef } from "./contract.ts";

const LOOPBACK = /^(localhost|127(\.\d{1,3}){3}|\[::1\])$/;

export function isLoopbackHost(hostname: string): boolean {
  return LOOPBACK.test(hostname);
}

/**
 * An upstream API's base URL in config: https (plain http only to loopback when allowed: local
 * fakes, a port-forward), no credentials, query or fragment; returned without a trailing slash.
 * Whatever it names receives a token, so mistakes fail at load time.
 */
export function baseUrl(options: { example: string; https: string; httpLoopback?: boolean }) {
  return z.pipe(
    z.string(),
    z.transform((text: string, ctx) => {
      let url: URL;
      try {
        url = new URL(text);
      } catch {
        ctx.issues.push({
          code: "custom",
          message: `expected a URL such as ${options.example}`,
          input: text,
        });
        return z.NEVER;
      }
      const httpLoopback =
        options.httpLoopback === true && url.protocol === "http:" && isLoopbackHost(url.hostname);
      if (url.protocol !== "https:" && !httpLoopback) {
        ctx.issues.push({ code: "custom", message: options.https, input: text });
        return z.NEVER;
      }
      if (url.username || url.password || url.search || url.hash) {
        ctx.issues.push({
          code: "custom",
          message: "expected a URL without credentials, query or fragment",
          input: text,
        });
        return z.NEVER;
      }
      return `${url.origin}${url.pathname.replace(/\/+$/, "")}`;
    }),
  );
}

/** Watches every configured secret reference; the returned function stops them all. */
export function watchRefs(
  secrets: SecretReader,
  refs: ReadonlyArray<SecretRef | undefined>,
  onChange: () => void,
): () => void {
  const stops = refs.filter((ref) => ref !== undefined).map((ref) => secrets.watch(ref, onChange));
  return () => stops.forEach((stop) => stop());
}
